"""POSTs to the ingest routes, served in one ASGI layer instead of through Starlette's router.

Ingest requests are nearly all of the collector's traffic, and analytics.js sends one per
event. Starlette's exception layer, router, route and request-response wrappers, and one
middleware per limit, cost about a fifth of the event loop's CPU for a one-event request
(docs/benchmarks.md); this layer calls the endpoint directly and does for it what those
layers did: errors answered as typed JSON, and the limits that only ingest requests need:

- the body limit: a declared Content-Length over it is refused at once (413) without
  reading the body; a body without one (chunked) is counted as it streams in and refused as
  soon as it passes the limit, the rest never read;
- the in-flight limit: each request may hold up to the decompressed-body cap in memory and
  waits for Kafka, so past `max_in_flight` of them more are answered 503 with Retry-After at
  once, and a slow Kafka pushes back on clients instead of piling up requests.

Other methods on these paths (405), CORS preflights and all other routes go on to the
Starlette app. Request metrics and CORS headers are middleware around this layer, the same
for every route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.errors import CollectorError, PayloadTooLarge, Unavailable
from collector.responses import error_response

Endpoint = Callable[[Request], Awaitable[Response]]


class IngestRoutes:
    def __init__(
        self,
        app: ASGIApp,
        endpoints: Mapping[str, Endpoint],
        max_body_bytes: int,
        max_in_flight: int,
        retry_after_s: int,
    ) -> None:
        self.app = app
        self.endpoints = dict(endpoints)
        self.max_body_bytes = max_body_bytes
        self.max_in_flight = max_in_flight
        self.retry_after_s = retry_after_s
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = None
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.endpoints.get(scope["path"])
        if endpoint is None:
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
            response = await self._respond(endpoint, scope, receive)
            await response(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _respond(self, endpoint: Endpoint, scope: Scope, receive: Receive) -> Response:
        limit = self.max_body_bytes
        declared = _content_length(scope)
        try:
            if declared is None:
                receive = _counting(receive, limit)
            elif declared > limit:
                raise PayloadTooLarge(f"body of {declared} bytes exceeds {limit}")
            # With a declared length within the limit, the HTTP server delivers no more than
            # that: there is nothing to count.
            return await endpoint(Request(scope, receive))
        except CollectorError as error:
            return error_response(error)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _counting(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def counting_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                # Raised inside the endpoint's body read, and answered as any CollectorError.
                raise PayloadTooLarge(f"body exceeds {limit} bytes")
        return message

    return counting_receive
