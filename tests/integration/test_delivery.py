"""The delivery contract against a real broker: 2xx only for events Kafka acknowledged."""

from __future__ import annotations

import os
import time

import httpx
import msgspec

from tests.integration.conftest import StartCollector
from tests.support.kafka import consume_all, create_topic
from tests.support.metrics import sample
from tests.support.server import free_port


def test_event_the_broker_refuses_gets_503_with_retry_after(
    start_collector: StartCollector, topic: str
) -> None:
    # The broker takes record batches of at most 2 KB on this topic; random bytes do not
    # compress well, so a 7 KB event (within the per-event limits) is refused by Kafka itself.
    create_topic(topic, partitions=1, config={"max.message.bytes": "2048"})
    collector = start_collector(COLLECTOR_RETRY_AFTER_S="7")
    big = {"event": "big", "user_id": "u-1", "properties": {"blob": os.urandom(3500).hex()}}
    with collector.client() as client:
        response = client.post("/track", json=[{"event": "small"}, big])
        assert response.status_code == 503
        assert response.headers["retry-after"] == "7"
        assert response.json()["error"] == "delivery_failed"
        assert client.post("/track", json=[{"event": "after"}]).status_code == 200
    values = [msgspec.json.decode(r.value)["event"] for r in consume_all(topic)]
    assert "big" not in values
    assert "after" in values


def test_unreachable_kafka_gives_503_never_2xx(start_collector: StartCollector, topic: str) -> None:
    collector = start_collector(
        KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}",
        COLLECTOR_CREATE_TOPICS="false",
        COLLECTOR_DELIVERY_TIMEOUT_MS="1500",
        COLLECTOR_READY_TIMEOUT_MS="500",
    )
    assert httpx.get(f"{collector.url}/healthz").status_code == 200
    ready = httpx.get(f"{collector.url}/readyz", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["error"] == "kafka_unreachable"

    started = time.monotonic()
    with collector.client() as client:
        response = client.post("/track", json=[{"event": "lost?"}])
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"] in {"delivery_failed", "delivery_timeout"}
    assert time.monotonic() - started < 15

    metrics = httpx.get(f"{collector.url}/metrics").text
    failed = "collector_records_failed_total"
    assert (sample(metrics, failed, topic=topic, reason="delivery") or 0) + (
        sample(metrics, failed, topic=topic, reason="timeout") or 0
    ) == 1
    assert sample(metrics, "collector_records_produced_total", topic=topic) is None
