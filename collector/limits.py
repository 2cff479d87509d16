"""Limits on what requests may cost: body size, and how many are in flight at once.

A declared Content-Length over the limit is refused at once, without reading the body. A body
without one (chunked) is counted as it streams in, and refused as soon as it passes the limit;
the rest is never read.

Each ingest request may hold up to the decompressed-body cap in memory and waits for Kafka;
past a number of them in flight, more are answered 503 with Retry-After at once, so memory
stays bounded and a slow Kafka pushes back on clients instead of piling up requests.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.errors import PayloadTooLarge, Unavailable
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


class ConcurrencyLimit:
    def __init__(
        self, app: ASGIApp, max_in_flight: int, paths: frozenset[str], retry_after_s: int
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.paths = paths
        self.retry_after_s = retry_after_s
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            error = Unavailable(
                f"over {self.max_in_flight} requests in flight; retry later", self.retry_after_s
            )
            await error_response(error)(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
