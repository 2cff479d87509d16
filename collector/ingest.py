"""What every ingest route does, whatever its wire format.

    write key -> source configuration (401)      body -> decompressed, capped (413, 415)
    events -> quota of the key (429)             pipeline of the key -> records
    records -> Kafka, acknowledged (503)         -> an answer listing the rejected events

Routes differ only in how a body becomes a batch of raw events and in the dialect they are
spelled in; sources/ holds those differences.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

from starlette.requests import Request

from collector import native
from collector.auth import Authenticator, presented_key
from collector.bodies import read_body
from collector.config import Settings
from collector.decoding import Batch
from collector.envelope import EventType
from collector.errors import BadRequest, RateLimited
from collector.metrics import Metrics
from collector.normalize import Received
from collector.pii import load_secret
from collector.pipeline import Outcome, Pipeline
from collector.quotas import TokenBucket
from collector.sinks.kafka import KafkaSink


class Ingest:
    def __init__(self, settings: Settings, sink: KafkaSink, metrics: Metrics) -> None:
        self.settings = settings
        self.sink = sink
        self.metrics = metrics
        self.auth = Authenticator(settings.write_keys)
        # One pipeline and one quota per write key: keys may differ in tenant, topics and
        # PII policy, and one key's traffic must not use up another's quota.
        self._pipelines: dict[str, Pipeline] = {}
        self._buckets: dict[str, TokenBucket] = {}
        for key, source in settings.write_keys.items():
            keyed = settings.for_key(source)
            secret = load_secret(keyed.pii, settings.environment)
            self._pipelines[key] = native.Pipeline(keyed, secret)
            self._buckets[key] = TokenBucket(source.rate_per_s, source.burst)

    async def handle(
        self,
        request: Request,
        decode: Callable[[bytes], Batch],
        *,
        dialect: str = "track",
        default_type: EventType = "track",
        max_bytes: int | None = None,
        key_in_query: bool = False,
    ) -> Outcome:
        headers = _read_headers(request.scope["headers"])
        query = request.query_params if key_in_query else None
        presented = presented_key(headers.get(b"authorization"), query)
        key, source = self.auth.source_for(presented)
        body = await read_body(
            request,
            headers.get(b"content-encoding"),
            max_bytes or self.settings.max_decompressed_bytes,
            self.settings.max_zstd_window_bytes,
        )
        batch = decode(body)
        wait = self._buckets[key].take(len(batch.events))
        if wait:
            # A body that is not JSON is a 400 whatever the quota: its events, split by
            # their outline, are read now rather than by the pipeline.
            native.check_events(batch.events)
            self.metrics.series(self.metrics.rate_limited, source.name).inc(len(batch.events))
            if math.isinf(wait):
                raise RateLimited(
                    f"{len(batch.events)} events at once exceed this key's burst of "
                    f"{source.burst}; send smaller batches",
                    retry_after=1,
                )
            raise RateLimited(
                f"over this key's quota of {source.rate_per_s:g} events/s",
                retry_after=max(1, math.ceil(wait)),
            )
        received = Received(
            received_ms=time.time_ns() // 1_000_000,
            sent_ms=batch.sent_ms,
            client_ip=request.client.host if request.client else None,
            user_agent=headers.get(b"user-agent"),
            source=source.source,
            dialect=dialect,  # type: ignore[arg-type]
            default_type=default_type,
        )
        try:
            outcome = self._pipelines[key].process(batch.events, received)
        except BadRequest:
            # A body found not to be JSON only as its events were read (see
            # collector.decoding): refused whole, it uses none of the quota.
            self._buckets[key].give_back(len(batch.events))
            raise
        await self.sink.send(outcome.records, outcome.per_topic)
        self.metrics.count_outcome(outcome)
        return outcome


# The headers the handler reads. Starlette's Headers.get scans and decodes the whole list for
# each name, raising and catching KeyError inside for a missing one: three of them cost a
# one-event request more than this one pass.
_READ_HEADERS = frozenset({b"authorization", b"content-encoding", b"user-agent"})


def _read_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[bytes, str]:
    """The first value of each header in _READ_HEADERS that is present (ASGI servers give
    header names in lower case)."""
    found: dict[bytes, str] = {}
    for name, value in raw:
        if name in _READ_HEADERS and name not in found:
            found[name] = value.decode("latin-1")
    return found


def summary(outcome: Outcome) -> dict[str, object]:
    """The answer to an ingest request: what was taken, and what was not and why."""
    return {
        "accepted": outcome.accepted,
        "rejected": len(outcome.rejected),
        "errors": [
            {"index": r.index, "reason": r.reason, "detail": r.detail} for r in outcome.rejected
        ],
    }
