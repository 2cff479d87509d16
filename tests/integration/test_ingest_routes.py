"""The ingest routes' own limits over real HTTP: the body limit, from Content-Length or while
streaming, and the in-flight limit."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import WRITE_KEY, StartCollector
from tests.support.kafka import consume_all
from tests.support.metrics import sample
from tests.support.server import BROWSER

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


def cors_headers(answer: httpx.Response) -> list[tuple[str, str]]:
    return [
        (name, value)
        for name, value in answer.headers.multi_items()
        if name.startswith("access-control-") or name == "vary"
    ]


def test_requests_over_the_in_flight_limit_get_503_at_once(
    start_collector: StartCollector, topic: str
) -> None:
    # A long linger holds each request in flight, waiting for Kafka.
    collector = start_collector(
        COLLECTOR_MAX_IN_FLIGHT="2",
        COLLECTOR_KAFKA_LINGER_MS="1500",
        COLLECTOR_CORS_ORIGINS="https://shop.example",
    )
    body = b'[{"event": "held"}]'
    head = (
        "POST /track HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"User-Agent: {BROWSER['User-Agent']}\r\nAuthorization: Bearer {WRITE_KEY}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    held = []
    for _ in range(2):
        sock = socket.create_connection(("127.0.0.1", collector.port), timeout=30)
        sock.sendall(head + body)
        held.append(sock)
    time.sleep(0.3)
    with collector.client() as client:
        origin = {"Origin": "https://shop.example"}
        refused = client.post("/track", json=[{"event": "refused"}], headers=origin)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        # Health and metrics are never held back.
        health = client.get("/healthz", headers=origin)
        assert health.status_code == 200
        # A browser can read why it was refused.
        assert cors_headers(refused) == cors_headers(health)
        assert refused.headers["access-control-allow-origin"] == "https://shop.example"
    for sock in held:
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200")
        sock.close()
    events = [r.value for r in consume_all(topic)]
    assert len(events) == 2
    assert all(b'"held"' in value for value in events)


@pytest.mark.parametrize("allowed", ["https://shop.example", "*"])
def test_ingest_answers_are_counted_and_carry_the_same_cors_headers_as_other_routes(
    start_collector: StartCollector, allowed: str
) -> None:
    # The ingest routes skip Starlette's router and work out CORS headers once per origin;
    # metrics and browsers must not notice.
    collector = start_collector(COLLECTOR_CORS_ORIGINS=allowed, COLLECTOR_MAX_BODY_BYTES=str(LIMIT))
    with collector.client() as client:
        for origin in ({"Origin": "https://shop.example"}, {"Origin": "https://evil.example"}, {}):
            health = client.get("/healthz", headers=origin)
            assert cors_headers(health)  # Vary at least, whatever the origin
            for _ in range(2):  # worked out, then remembered
                answers = [
                    client.post("/track", json=[{"event": "x"}], headers=origin),
                    client.post("/v1/track", json={"event": "x"}, headers=origin),
                    client.post("/track", content=oversized_batch(), headers=origin),
                    client.post("/track", content=b"{", headers=origin),
                ]
                assert [a.status_code for a in answers] == [200, 200, 413, 400]
                for answer in answers:
                    assert cors_headers(answer) == cors_headers(health), origin
        unauthorized = client.post("/track", json=[{"event": "x"}], auth=None)
        assert unauthorized.status_code == 401
        text = client.get("/metrics").text

    requests = "collector_http_requests_total"
    assert sample(text, requests, route="/track", status="200") == 6
    assert sample(text, requests, route="/v1/track", status="200") == 6
    assert sample(text, requests, route="/track", status="413") == 6
    assert sample(text, requests, route="/track", status="400") == 6
    assert sample(text, requests, route="/track", status="401") == 1
