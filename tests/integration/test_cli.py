"""`collector serve` shuts down gracefully on SIGTERM."""

from __future__ import annotations

import signal
import threading
import time

import httpx

from tests.integration.conftest import StartCollector
from tests.support.kafka import consume_all


def test_sigterm_finishes_in_flight_requests_flushes_and_exits_0(
    start_collector: StartCollector, topic: str
) -> None:
    # A long linger keeps records in librdkafka when SIGTERM arrives.
    collector = start_collector(COLLECTOR_KAFKA_LINGER_MS="500")
    answers: list[httpx.Response] = []

    def post(n: int) -> None:
        batch = [{"event": "e", "sender": n, "i": i} for i in range(100)]
        answers.append(httpx.post(f"{collector.url}/track", json=batch, timeout=30))

    senders = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for sender in senders:
        sender.start()
    time.sleep(0.2)
    assert collector.process is not None
    collector.process.send_signal(signal.SIGTERM)
    for sender in senders:
        sender.join()
    assert collector.process.wait(60) == 0

    assert [a.status_code for a in answers] == [200] * 8
    records = consume_all(topic)
    assert len(records) == 800
