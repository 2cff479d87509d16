"""Request body size limit, enforced before and while the body is read.

A declared Content-Length over the limit is refused at once, without reading the body. A body
without one (chunked) is counted as it streams in, and refused as soon as it passes the limit;
the rest is never read.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.errors import PayloadTooLarge
from collector.responses import error_response


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            error = PayloadTooLarge(f"body of {declared} bytes exceeds {limit}")
            await error_response(error)(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Raised inside the endpoint's body read; the app's error handler answers.
                    raise PayloadTooLarge(f"body exceeds {limit} bytes")
            return message

        await self.app(scope, counting_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
