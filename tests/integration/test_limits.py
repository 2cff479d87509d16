"""The body limit over real HTTP: refused from Content-Length, or while streaming."""

from __future__ import annotations

import socket
from collections.abc import Iterator

from tests.integration.conftest import StartCollector
from tests.support.kafka import consume_all

LIMIT = 64 * 1024


def oversized_batch() -> bytes:
    event = b'{"event": "big", "user_id": "u", "pad": "' + b"x" * 1000 + b'"}'
    count = LIMIT // len(event) + 2
    return b"[" + b",".join([event] * count) + b"]"


def test_declared_length_over_the_limit_is_refused_without_reading(
    start_collector: StartCollector, topic: str
) -> None:
    collector = start_collector(COLLECTOR_MAX_BODY_BYTES=str(LIMIT))
    # Announce a huge body and send none of it: the answer must come anyway.
    with socket.create_connection(("127.0.0.1", collector.port), timeout=5) as sock:
        sock.sendall(
            b"POST /track HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1073741824\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):  # the collector closes the connection after a 413
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b'"error":"payload_too_large"' in body

    with collector.client() as client:
        response = client.post("/track", content=oversized_batch())
        assert response.status_code == 413
        assert response.json()["error"] == "payload_too_large"
        assert client.post("/track", json=[{"event": "ok"}]).status_code == 200
    assert len(consume_all(topic)) == 1


def test_streamed_body_over_the_limit_is_refused(
    start_collector: StartCollector, topic: str
) -> None:
    collector = start_collector(COLLECTOR_MAX_BODY_BYTES=str(LIMIT))
    body = oversized_batch()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    at_limit = b"[" + b",".join([b'{"event":"fits"}'] * 100) + b"]"
    assert len(at_limit) < LIMIT
    with collector.client() as client:
        # A generator body goes out chunked, with no Content-Length to decide from.
        response = client.post("/track", content=chunks())
        assert response.status_code == 413
        assert response.json()["error"] == "payload_too_large"
        assert client.post("/track", content=iter([at_limit])).status_code == 200
    assert len(consume_all(topic)) == 100
