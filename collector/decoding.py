"""Request bodies to the raw bytes of each event.

A batch is a JSON array of events or an object {"batch": [...], "sent_at": ...} (the shape
Segment and RudderStack clients send). Only the outline is parsed here: each event stays raw
bytes, decoded on its own by the pipeline, so one bad event is rejected alone while its
siblings go on. A body whose outline is wrong is a 400 naming the problem, and produces
nothing.
"""

from __future__ import annotations

import msgspec

from collector import timestamps
from collector.envelope import TrackBatch
from collector.errors import InvalidJSON, InvalidShape


class Batch(msgspec.Struct, frozen=True):
    events: list[msgspec.Raw]
    # The batch's `sent_at` in epoch milliseconds, when it has one.
    sent_ms: int | None = None


_decoder = msgspec.json.Decoder(list[msgspec.Raw] | TrackBatch)


def decode_batch(body: bytes) -> Batch:
    """The events of a request body, or a BadRequest saying what is wrong with it."""
    if not body.strip():
        raise InvalidShape('empty body: expected a JSON array of events or {"batch": [...]}')
    try:
        document = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidShape(
            f'expected a JSON array of events or {{"batch": [...]}}: {exc}'
        ) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        # msgspec reports invalid UTF-8 in a string as UnicodeDecodeError.
        raise InvalidJSON(f"body is not valid JSON: {exc}") from None
    if isinstance(document, list):
        return Batch(document)
    try:
        sent_ms = None if document.sent_at is None else timestamps.parse(document.sent_at)
    except timestamps.InvalidTimestamp as exc:
        raise InvalidShape(f"sent_at: {exc}") from None
    return Batch(document.batch, sent_ms)
