"""Segment's HTTP API, spoken by Segment's own Python library and by hand."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import msgspec
import pytest
from segment.analytics import Client

from tests.integration.conftest import WRITE_KEY, StartCollector
from tests.support.kafka import consume_all

TOKEN = re.compile(r"[0-9a-f]{32}")


def envelopes(topic: str) -> list[dict[str, object]]:
    return [msgspec.json.decode(r.value) for r in consume_all(topic)]


@pytest.mark.parametrize("gzip", [False, True])
def test_segment_python_library_delivers_unchanged(
    start_collector: StartCollector, topics: dict[str, str], gzip: bool
) -> None:
    collector = start_collector()
    client = Client(WRITE_KEY, host=collector.url, sync_mode=True, gzip=gzip, max_retries=0)
    when = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
    client.track("user-42", "Order Completed", {"total": 30.5}, timestamp=when, message_id="m-1")
    client.identify("user-42", {"email": "ann@example.com", "plan": "team"}, message_id="m-2")
    client.page("user-42", "Docs", "Install", {"path": "/docs"}, message_id="m-3")
    client.screen("user-42", "App", "Home", message_id="m-4")
    client.group("user-42", "acme", {"name": "Acme"}, message_id="m-5")
    client.alias("anon-7", "user-42", message_id="m-6")
    client.track(anonymous_id="anon-7", event="Viewed", message_id="m-7")
    client.flush()

    # analytics-python names itself in context.library: a server source.
    received = {e["event_id"]: e for e in envelopes(topics["server"])}
    assert sorted(received) == [f"m-{n}" for n in range(1, 8)]
    assert all(e["source"] == "server" for e in received.values())
    track = received["m-1"]
    assert track["type"] == "track"
    assert track["event"] == "Order Completed"
    assert track["properties"] == {"total": 30.5}
    assert track["client_ts"] == "2026-11-26T12:00:00.000Z"
    assert track["sent_at"] is not None
    assert TOKEN.fullmatch(str(track["user_id"]))
    assert received["m-2"]["type"] == "identify"
    assert TOKEN.fullmatch(received["m-2"]["traits"]["email"])  # type: ignore[index]
    assert received["m-2"]["traits"]["plan"] == "team"  # type: ignore[index]
    assert received["m-3"]["type"] == "page"
    assert received["m-3"]["event"] == "Install"
    assert received["m-4"]["type"] == "screen"
    assert received["m-5"]["group_id"] == "acme"
    assert received["m-6"]["type"] == "alias"
    assert TOKEN.fullmatch(str(received["m-6"]["previous_id"]))
    assert received["m-7"]["anonymous_id"] == "anon-7"
    # Every keyed record is keyed by the token of its user, else its anonymous id.
    for record in consume_all(topics["server"]):
        envelope = msgspec.json.decode(record.value)
        assert record.key == (envelope["user_id"] or envelope["anonymous_id"]).encode()


def test_segment_single_calls_and_batch_by_hand(
    start_collector: StartCollector, topics: dict[str, str]
) -> None:
    collector = start_collector()
    with collector.client() as client:
        response = client.post("/v1/page", json={"anonymousId": "a-1", "name": "Pricing"})
        assert response.status_code == 200
        assert response.json() == {"success": True, "accepted": 1, "rejected": 0, "errors": []}
        response = client.post(
            "/v1/batch",
            json={
                "batch": [
                    {"type": "track", "event": "Clicked", "userId": "u-1", "messageId": "b-1"},
                    {"type": "track", "userId": "u-1", "messageId": "b-2"},
                ],
                "sentAt": "2026-11-26T12:00:00Z",
            },
        )
        assert response.status_code == 200
        body = response.json()
        assert (body["accepted"], body["rejected"]) == (1, 1)
        assert body["errors"][0]["reason"] == "missing_event"
    web = envelopes(topics["web"])
    assert sorted((e["type"], e["event"]) for e in web) == [
        ("page", "Pricing"),
        ("track", "Clicked"),
    ]
    assert len(consume_all(f"{topics['web']}.dlq")) == 1


def test_segment_limits_32_kib_per_event_and_500_kib_per_batch(
    start_collector: StartCollector, topics: dict[str, str]
) -> None:
    collector = start_collector()
    big = {"type": "track", "event": "Big", "anonymousId": "a", "properties": {"x": "y" * 33_000}}
    small = {"type": "track", "event": "Small", "anonymousId": "a"}
    with collector.client() as client:
        response = client.post("/v1/batch", json={"batch": [big, small]})
        assert response.status_code == 200
        assert response.json()["errors"][0]["reason"] == "event_too_large"
        batch = {"batch": [{**small, "properties": {"pad": "z" * 7000}}] * 80}
        response = client.post("/v1/batch", json=batch)
        assert response.status_code == 413
        assert response.json()["error"] == "payload_too_large"
    assert [e["event"] for e in envelopes(topics["web"])] == ["Small"]


def test_segment_bodies_nesting_past_what_can_be_read_are_400s(
    start_collector: StartCollector,
) -> None:
    collector = start_collector()
    deep = b'{"a":' * 3000 + b"1" + b"}" * 3000
    with collector.client() as client:
        for path, body in [
            ("/v1/batch", b'{"batch": [' + deep + b"]}"),
            ("/v1/track", b'{"event": "a", "properties": ' + deep + b"}"),
        ]:
            response = client.post(path, content=body)
            assert response.status_code == 400, path
            assert response.json()["error"] == "invalid_json", path
