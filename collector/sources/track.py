"""POST /track: the collector's own batch format.

The body is a JSON array of events or {"batch": [...], "sent_at": ...}, in the collector's
own field names. The answer comes only after Kafka has acknowledged every record:
{"accepted": n, "rejected": m, "errors": [{"index": i, "reason": "...", "detail": "..."}]}.
"""

from __future__ import annotations

from starlette.requests import Request

from collector.decoding import decode_batch
from collector.ingest import Ingest, summary
from collector.responses import JSONResponse


class TrackSource:
    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest

    async def handle(self, request: Request) -> JSONResponse:
        outcome = await self.ingest.handle(request, decode_batch)
        return JSONResponse(summary(outcome))
