"""POST /track: the collector's own batch format.

The body is a JSON array of events or {"batch": [...]}; each event becomes one record on the
web topic. The answer comes only after Kafka has acknowledged every record.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request

from collector import native
from collector.decoding import decode_batch
from collector.responses import JSONResponse
from collector.sinks.kafka import KafkaSink

_encode = msgspec.json.Encoder().encode


class TrackSource:
    def __init__(self, sink: KafkaSink, topic: str) -> None:
        self.sink = sink
        self.topic = topic

    async def handle(self, request: Request) -> JSONResponse:
        events = decode_batch(await request.body())
        records = native.build_records(events, _encode)
        await self.sink.send(self.topic, records)
        return JSONResponse({"accepted": len(records)})
