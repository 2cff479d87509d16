"""POST /track over real HTTP into the real broker, read back by a consumer."""

from __future__ import annotations

import random

import httpx
import msgspec

from tests.integration.conftest import StartCollector
from tests.support.kafka import consume_all, partition_count
from tests.support.partitioner import partition_for


def seeded_events(count: int, seed: int = 7) -> list[dict[str, object]]:
    rng = random.Random(seed)
    events: list[dict[str, object]] = []
    for i in range(count):
        event: dict[str, object] = {"event": rng.choice(["page", "click", "signup"]), "n": i}
        identity = rng.random()
        if identity < 0.4:
            event["user_id"] = f"user-{rng.randrange(50)}"
            event["anonymous_id"] = f"anon-{rng.randrange(500)}"
        elif identity < 0.7:
            event["anonymous_id"] = f"anon-{rng.randrange(500)}"
        elif identity < 0.85:
            event["session_id"] = f"sess-{rng.randrange(100)}"
        events.append(event)
    return events


def expected_key(event: dict[str, object]) -> bytes | None:
    for field in ("user_id", "anonymous_id", "session_id"):
        if field in event:
            return str(event[field]).encode()
    return None


def test_track_batches_arrive_once_with_keys_and_default_partitions(
    start_collector: StartCollector, topic: str
) -> None:
    collector = start_collector()
    events = seeded_events(1000)
    with httpx.Client(base_url=collector.url) as client:
        for start in range(0, len(events), 100):
            batch = events[start : start + 100]
            body = batch if start % 200 else {"batch": batch}
            response = client.post("/track", json=body)
            assert response.status_code == 200, response.text
            assert response.json() == {"accepted": 100}

    records = consume_all(topic)
    assert len(records) == len(events)
    by_n = {msgspec.json.decode(r.value)["n"]: r for r in records}
    assert sorted(by_n) == list(range(len(events)))
    partitions = partition_count(topic)
    assert partitions == 12
    keyless = 0
    for event in events:
        record = by_n[event["n"]]
        assert msgspec.json.decode(record.value) == event
        assert record.key == expected_key(event)
        if record.key is None:
            keyless += 1
        else:
            assert record.partition == partition_for(record.key, partitions)
    assert keyless > 0


def test_track_keyless_events_have_no_key_rather_than_an_empty_one(
    start_collector: StartCollector, topic: str
) -> None:
    collector = start_collector()
    events = [{"event": "a", "user_id": ""}, {"event": "b", "anonymous_id": None}, {"event": "c"}]
    response = httpx.post(f"{collector.url}/track", json=events)
    assert response.status_code == 200
    records = consume_all(topic)
    assert [r.key for r in records] == [None, None, None]


def test_track_bad_bodies_get_typed_400s_and_produce_nothing(
    start_collector: StartCollector, topic: str
) -> None:
    collector = start_collector()
    bad = {
        b"not json": "invalid_json",
        b'{"batch": [{"event": "a"}': "invalid_json",
        b"": "invalid_shape",
        b'{"events": []}': "invalid_shape",
        b'{"batch": {"event": "a"}}': "invalid_shape",
        b'[{"event": "a"}, 3]': "invalid_shape",
        b'"a string"': "invalid_shape",
        b"\xff\xfe[]": "invalid_json",
    }
    with httpx.Client(base_url=collector.url) as client:
        for body, code in bad.items():
            response = client.post("/track", content=body)
            assert response.status_code == 400, body
            assert response.headers["content-type"] == "application/json"
            assert response.json()["error"] == code, body
            assert response.json()["detail"]
        # A valid request afterwards, so there is something to read back.
        assert client.post("/track", json=[{"event": "valid"}]).status_code == 200

    records = consume_all(topic)
    assert [msgspec.json.decode(r.value) for r in records] == [{"event": "valid"}]


def test_track_wrong_method_and_unknown_route_are_json_errors(
    start_collector: StartCollector,
) -> None:
    collector = start_collector()
    with httpx.Client(base_url=collector.url) as client:
        response = client.get("/track")
        assert response.status_code == 405
        assert response.json()["error"] == "method_not_allowed"
        response = client.post("/nowhere", json=[])
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
