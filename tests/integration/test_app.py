"""Health, readiness and metrics endpoints of a running collector."""

from __future__ import annotations

import httpx

from tests.integration.conftest import StartCollector
from tests.support.metrics import sample


def test_tracker_script_is_served(start_collector: StartCollector) -> None:
    collector = start_collector()
    response = httpx.get(f"{collector.url}/tracker.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert "sendBeacon" in response.text


def test_health_and_readiness_with_a_broker(start_collector: StartCollector) -> None:
    collector = start_collector()
    assert httpx.get(f"{collector.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{collector.url}/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


def test_metrics_count_requests_events_and_deliveries(
    start_collector: StartCollector, topic: str
) -> None:
    collector = start_collector()
    with collector.client() as client:
        for _ in range(3):
            assert client.post("/track", json=[{"event": "a"}] * 10).status_code == 200
        assert client.post("/track", content=b"{").status_code == 400
        assert client.get("/no/such/path").status_code == 404
        text = client.get("/metrics").text

    requests = "collector_http_requests_total"
    assert sample(text, requests, route="/track", status="200") == 3
    assert sample(text, requests, route="/track", status="400") == 1
    assert sample(text, requests, route="other", status="404") == 1
    assert sample(text, "collector_records_produced_total", topic=topic) == 30
    assert sample(text, "collector_delivery_seconds_count") == 3
    assert sample(text, "collector_producer_queue_messages") == 0
    # Unknown paths never become label values.
    assert "/no/such/path" not in text
