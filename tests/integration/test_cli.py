"""`collector serve` shuts down gracefully on SIGTERM."""

from __future__ import annotations

import signal
import socket
import time

import msgspec

from tests.integration.conftest import WRITE_KEY, StartCollector
from tests.support.kafka import consume_all
from tests.support.server import BROWSER


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ", 2)[1]), body


def test_sigterm_finishes_in_flight_requests_flushes_and_exits_0(
    start_collector: StartCollector, topic: str
) -> None:
    # A long linger keeps every request waiting on librdkafka when SIGTERM arrives.
    collector = start_collector(COLLECTOR_KAFKA_LINGER_MS="1000")
    assert collector.process is not None
    senders = []
    for n in range(8):
        body = msgspec.json.encode([{"event": "e", "sender": n, "i": i} for i in range(100)])
        sock = socket.create_connection(("127.0.0.1", collector.port), timeout=30)
        head = (
            "POST /track HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            f"User-Agent: {BROWSER['User-Agent']}\r\nAuthorization: Bearer {WRITE_KEY}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        senders.append(sock)
    time.sleep(0.3)  # all eight are read and waiting for delivery reports
    collector.process.send_signal(signal.SIGTERM)

    answers = [read_response(sock) for sock in senders]
    for sock in senders:
        sock.close()
    assert collector.process.wait(60) == 0
    assert [status for status, _ in answers] == [200] * 8
    assert all(body == b'{"accepted":100,"rejected":0,"errors":[]}' for _, body in answers)
    assert len(consume_all(topic)) == 800


def mapped_libraries(pid: int) -> str:
    with open(f"/proc/{pid}/maps") as maps:
        return maps.read()


def test_serve_runs_on_jemalloc_unless_told_otherwise(start_collector: StartCollector) -> None:
    default = start_collector()
    assert default.process is not None
    # The same process (pid) as started: it ran itself again with jemalloc preloaded.
    assert "libjemalloc.so.2" in mapped_libraries(default.process.pid)
    assert "allocator: jemalloc" in default.output()
    with default.client() as client:
        assert client.post("/track", json=[{"event": "e"}]).status_code == 200

    system = start_collector(COLLECTOR_ALLOCATOR="system")
    assert system.process is not None
    assert "libjemalloc.so.2" not in mapped_libraries(system.process.pid)
    assert "allocator: system" in system.output()
