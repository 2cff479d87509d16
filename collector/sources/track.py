"""POST /track: the collector's own batch format.

The body is a JSON array of events or {"batch": [...], "sent_at": ...}. Events go through
the pipeline to their stream's topic (or the bots topic, or the DLQ with a reason); the
answer comes only after Kafka has acknowledged every record, and lists the rejected events:
{"accepted": n, "rejected": m, "errors": [{"index": i, "reason": "...", "detail": "..."}]}.
"""

from __future__ import annotations

import time

from starlette.requests import Request

from collector.decoding import decode_batch
from collector.metrics import Metrics
from collector.normalize import Received
from collector.pipeline import Outcome, Pipeline
from collector.responses import JSONResponse
from collector.sinks.kafka import KafkaSink


class TrackSource:
    def __init__(self, pipeline: Pipeline, sink: KafkaSink, metrics: Metrics) -> None:
        self.pipeline = pipeline
        self.sink = sink
        self.metrics = metrics

    async def handle(self, request: Request) -> JSONResponse:
        batch = decode_batch(await request.body())
        received = Received(
            received_ms=time.time_ns() // 1_000_000,
            sent_ms=batch.sent_ms,
            client_ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
        )
        outcome = self.pipeline.process(batch.events, received)
        await self.sink.send(outcome.records)
        self.metrics.count_outcome(outcome)
        return JSONResponse(summary(outcome))


def summary(outcome: Outcome) -> dict[str, object]:
    return {
        "accepted": outcome.accepted,
        "rejected": len(outcome.rejected),
        "errors": [
            {"index": r.index, "reason": r.reason, "detail": r.detail} for r in outcome.rejected
        ],
    }
