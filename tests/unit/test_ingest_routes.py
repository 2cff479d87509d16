"""IngestRoutes' own decisions, driven through ASGI in-process: which requests it serves, and
the body limit whatever length a request declares. Over real HTTP in
tests/integration/test_ingest_routes.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.errors import Unavailable
from collector.ingest_routes import IngestRoutes
from collector.responses import JSONResponse, error_response


async def read_and_answer(request: Request) -> Response:
    return JSONResponse({"read": len(await request.body())})


async def elsewhere(scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse({"elsewhere": True}, status_code=404)(scope, receive, send)


def post(path: str, chunks: list[bytes], declared: int | None, root_path: str = "") -> Message:
    layer = IngestRoutes(
        elsewhere,
        {"/track": read_and_answer},
        max_body_bytes=10,
        max_in_flight=4,
        retry_after_s=1,
        cors_options={"allow_origins": []},
    )
    headers = [] if declared is None else [(b"content-length", str(declared).encode())]
    scope = {"type": "http", "method": "POST", "path": path, "root_path": root_path}
    scope["headers"] = headers
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(layer(scope, receive, send))
    return {"status": sent[0]["status"], "body": sent[1]["body"]}


def test_a_body_within_the_limit_reaches_the_endpoint() -> None:
    assert post("/track", [b"12345", b"678"], declared=8) == {"status": 200, "body": b'{"read":8}'}
    assert post("/track", [b"12345", b"678"], declared=None)["status"] == 200


def test_a_body_past_the_limit_is_refused_whatever_length_it_declared() -> None:
    assert post("/track", [b"x" * 11], declared=11)["status"] == 413
    assert post("/track", [b"x" * 8, b"x" * 8], declared=None)["status"] == 413
    # A server that lets a body run past its declared length does not get it past the limit.
    assert post("/track", [b"x" * 8, b"x" * 8], declared=5)["status"] == 413


def test_paths_are_matched_below_the_root_path_as_the_router_does() -> None:
    assert post("/api/track", [b"{}"], declared=2, root_path="/api")["status"] == 200
    assert post("/apitrack", [b"{}"], declared=2, root_path="/api")["status"] == 404
    assert post("/other", [b"{}"], declared=2)["status"] == 404


def answer_headers(app: ASGIApp, request_headers: list[tuple[bytes, bytes]]) -> list[Any]:
    scope = {"type": "http", "method": "POST", "path": "/track", "headers": request_headers}
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return [sent[0]["status"], sent[0]["headers"]]


@pytest.mark.parametrize("allowed", [["https://shop.example"], ["*"]])
def test_ingest_answers_get_the_headers_the_cors_middleware_around_them_would_give(
    allowed: list[str],
) -> None:
    options: dict[str, Any] = {"allow_origins": allowed, "allow_methods": ["POST"]}

    async def answered(scope: Scope, receive: Receive, send: Send) -> None:
        await JSONResponse({"read": 2})(scope, receive, send)

    async def refused(scope: Scope, receive: Receive, send: Send) -> None:
        error = Unavailable("over 0 requests in flight; retry later", 1)
        await error_response(error)(scope, receive, send)

    cases = [
        [],
        [(b"origin", b"https://shop.example")],
        [(b"origin", b"https://evil.example")],
        [(b"origin", b"https://shop.example"), (b"cookie", b"a=1")],
        [(b"origin", b"https://shop.example"), (b"authorization", b"Basic eDo=")],
        [(b"origin", b"https://evil.example"), (b"origin", b"https://shop.example")],
        [(b"origin", b"https://" + b"x" * 300 + b".example")],
    ]
    # Answered, and refused with a 503; the same answers with the middleware around them.
    for max_in_flight, reference in ((4, answered), (0, refused)):
        layer = IngestRoutes(
            CORSMiddleware(elsewhere, **options),
            {"/track": read_and_answer},
            max_body_bytes=10,
            max_in_flight=max_in_flight,
            retry_after_s=1,
            cors_options=options,
        )
        around = CORSMiddleware(reference, **options)
        for _ in range(2):  # worked out, then remembered
            for request_headers in cases:
                assert answer_headers(layer, request_headers) == answer_headers(
                    around, request_headers
                ), request_headers
