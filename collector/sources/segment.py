"""Segment's HTTP tracking API: /v1/batch and the single-call routes.

Clients written for Segment or RudderStack (analytics-python with `host=`, analytics-node,
the mobile libraries) post here unchanged: the write key as the Basic user name, camelCase
fields (messageId, userId, anonymousId, timestamp, sentAt, context, properties, traits).
Segment's limits hold: 32 KiB per event (the pipeline's limit) and 500 KiB per batch.
`/v1/beacon` takes a batch with the write key as a `writeKey` query parameter, for
`navigator.sendBeacon`, which cannot set headers.

Answers: 200 {"success": true, "accepted": n, "rejected": m, "errors": [...]} once Kafka has
every record; errors as everywhere else in the collector.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence

import msgspec
from starlette.requests import Request

from collector import native
from collector.decoding import NESTS_TOO_DEEPLY, Batch, batch_sent_at
from collector.envelope import EventType, SegmentBatch
from collector.errors import InvalidJSON, InvalidShape
from collector.ingest import Ingest, summary
from collector.ingest_routes import Endpoint
from collector.responses import JSONResponse

_decode_batch = msgspec.json.Decoder(SegmentBatch).decode
_decode_object = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode

SINGLE_CALLS: tuple[EventType, ...] = ("track", "page", "screen", "identify", "group", "alias")


def decode_segment_batch(body: bytes) -> Batch:
    split = native.split_object(body, b"sentAt", functools.partial(_events_by_msgspec, body))
    if split is not None:
        return batch_sent_at(*split, "sentAt")
    return decode_segment_batch_with_msgspec(body)


def decode_segment_batch_with_msgspec(body: bytes) -> Batch:
    """decode_segment_batch without the native splitter: its specification."""
    try:
        document = _decode_batch(body)
    except msgspec.ValidationError as exc:
        raise InvalidShape(f'expected {{"batch": [...]}}: {exc}') from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise InvalidJSON(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidJSON(NESTS_TOO_DEEPLY) from None
    return batch_sent_at(document.batch, document.sent_at, "sentAt")


def _events_by_msgspec(body: bytes) -> Sequence[bytes]:
    return decode_segment_batch_with_msgspec(body).events


def decode_single(body: bytes) -> Batch:
    """One event, the whole body; its own sentAt travels with it."""
    try:
        _decode_object(body)
    except msgspec.ValidationError as exc:
        raise InvalidShape(f"expected one event object: {exc}") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise InvalidJSON(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidJSON(NESTS_TOO_DEEPLY) from None
    return Batch([msgspec.Raw(body)])


class SegmentSource:
    def __init__(self, ingest: Ingest, max_batch_bytes: int) -> None:
        self.ingest = ingest
        self.max_batch_bytes = max_batch_bytes

    def endpoints(self) -> dict[str, Endpoint]:
        """POST endpoints by path."""
        endpoints: dict[str, Endpoint] = {
            "/v1/batch": self.batch,
            "/v1/import": self.batch,
            "/v1/beacon": self.beacon,
        }
        endpoints.update({f"/v1/{call}": self.single(call) for call in SINGLE_CALLS})
        return endpoints

    async def batch(self, request: Request, key_in_query: bool = False) -> JSONResponse:
        outcome = await self.ingest.handle(
            request,
            decode_segment_batch,
            dialect="segment",
            max_bytes=self.max_batch_bytes,
            key_in_query=key_in_query,
        )
        return JSONResponse({"success": True, **summary(outcome)})

    async def beacon(self, request: Request) -> JSONResponse:
        return await self.batch(request, key_in_query=True)

    def single(self, call: EventType) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def handle(request: Request) -> JSONResponse:
            outcome = await self.ingest.handle(
                request, decode_single, dialect="segment", default_type=call
            )
            return JSONResponse({"success": True, **summary(outcome)})

        return handle
