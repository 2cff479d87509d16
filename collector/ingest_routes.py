"""POSTs to the ingest routes, served in one ASGI layer instead of through Starlette's router.

Ingest requests are nearly all of the collector's traffic, and analytics.js sends one per
event. Starlette's exception layer, router, route and request-response wrappers, and one
middleware per limit, cost such a request a good part of its CPU (docs/benchmarks.md, fourth
round); this layer calls the endpoint directly and does for it what those layers did:
errors answered as typed JSON, and the limits that matter only for ingest requests, the
only ones that read a body or wait for Kafka:

- the body limit: a declared Content-Length over it is refused at once (413) without
  reading the body; every body is also counted as it streams in (chunked ones declare no
  length) and refused as soon as it passes the limit, the rest never read;
- the in-flight limit: each request may hold up to the decompressed-body cap in memory and
  waits for Kafka, so past `max_in_flight` of them more are answered 503 with Retry-After at
  once, and a slow Kafka pushes back on clients instead of piling up requests.

Other methods on these paths (405), CORS preflights and all other routes go on to the
Starlette app. Request metrics are middleware around this layer, the same for every route.
CORS is Starlette's middleware behind it; its headers for an ingest answer are the ones that
middleware itself gives a simple response, worked out once per request origin and then
appended to each answer: running it per request cost about 13 µs of a one-event request's
event-loop CPU (docs/benchmarks.md, fifth round).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.errors import CollectorError, PayloadTooLarge, Unavailable
from collector.responses import error_response

Endpoint = Callable[[Request], Awaitable[Response]]
RawHeaders = list[tuple[bytes, bytes]]

# Request origins whose CORS headers are remembered; past this the memory starts over (a
# collector serves a handful of sites, so reaching it means someone sends random ones).
# Longer origins are worked out for each request and not kept.
_ORIGINS_REMEMBERED = 1024
_LONGEST_REMEMBERED = 256


class IngestRoutes:
    def __init__(
        self,
        app: ASGIApp,
        endpoints: Mapping[str, Endpoint],
        max_body_bytes: int,
        max_in_flight: int,
        retry_after_s: int,
        cors_options: Mapping[str, Any],
    ) -> None:
        self.app = app
        self.endpoints = dict(endpoints)
        self.max_body_bytes = max_body_bytes
        self.max_in_flight = max_in_flight
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        # A second instance of the CORS middleware behind this layer, with its options, asked
        # only for the headers it adds to a simple response. What it adds depends on the
        # request's Origin alone (Starlette 1.10 and later, which pyproject.toml requires).
        self.cors = CORSMiddleware(app, **cors_options)
        self.cors_headers: dict[bytes | None, RawHeaders] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = None
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.endpoints.get(_route_path(scope))
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        origin, declared = _origin_and_length(scope)
        cors_headers = self.cors_headers.get(origin)
        if cors_headers is None:
            cors_headers = await self._cors_headers(origin)
        if self.in_flight >= self.max_in_flight:
            error = Unavailable(
                f"over {self.max_in_flight} requests in flight; retry later", self.retry_after_s
            )
            refusal = error_response(error)
            # Appended, where the middleware sets and merges: ingest answers carry no CORS
            # or Vary header of their own, so the headers come out the same.
            refusal.raw_headers += cors_headers
            await refusal(scope, receive, send)
            return
        self.in_flight += 1
        try:
            response = await self._respond(endpoint, scope, receive, declared)
            response.raw_headers += cors_headers
            await response(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _cors_headers(self, origin: bytes | None) -> RawHeaders:
        """What the CORS middleware adds to a simple response for this request origin."""
        start: dict[str, Any] = {"type": "http.response.start", "status": 200, "headers": []}

        async def keep(message: Message) -> None:
            pass

        request_headers = Headers(raw=[] if origin is None else [(b"origin", origin)])
        await self.cors.send(start, keep, request_headers)
        headers: RawHeaders = start["headers"]
        if origin is None or len(origin) <= _LONGEST_REMEMBERED:
            if len(self.cors_headers) >= _ORIGINS_REMEMBERED:
                self.cors_headers.clear()
            self.cors_headers[origin] = headers
        return headers

    async def _respond(
        self, endpoint: Endpoint, scope: Scope, receive: Receive, declared: int | None
    ) -> Response:
        limit = self.max_body_bytes
        try:
            if declared is not None and declared > limit:
                raise PayloadTooLarge(f"body of {declared} bytes exceeds {limit}")
            # Counted whatever the declared length: not every HTTP server refuses a body
            # longer than it (h11 takes a chunked one next to a Content-Length).
            return await endpoint(Request(scope, _counting(receive, limit)))
        except CollectorError as error:
            return error_response(error)


def _route_path(scope: Scope) -> str:
    """The path the router would match: without the root path an ASGI server may put in
    front (uvicorn's --root-path), as Starlette strips it."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path


def _origin_and_length(scope: Scope) -> tuple[bytes | None, int | None]:
    """The first Origin header (as Starlette's Headers.get finds it) and the first declared
    Content-Length (None when absent or not a number), in one pass over the headers."""
    origin: bytes | None = None
    length: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"origin" and origin is None:
            origin = bytes(value)
        elif name == b"content-length" and length is None:
            length = value
    try:
        return origin, None if length is None else int(length)
    except ValueError:
        return origin, None


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
