"""JSON responses encoded with msgspec, and the response for each CollectorError."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

from collector.errors import CollectorError, PayloadTooLarge, RateLimited, Unavailable

_encode = msgspec.json.Encoder().encode


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encode(content)


def error_response(error: CollectorError) -> JSONResponse:
    headers = {}
    if isinstance(error, Unavailable | RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    elif isinstance(error, PayloadTooLarge):
        # The client may still be sending the rest; closing tells it to stop.
        headers["Connection"] = "close"
    return JSONResponse(error.body(), status_code=error.status, headers=headers)
