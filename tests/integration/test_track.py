"""POST /track over real HTTP into the real broker, read back by a consumer."""

from __future__ import annotations

import random
import re

import msgspec

from tests.integration.conftest import StartCollector
from tests.support.kafka import consume_all, partition_count
from tests.support.partitioner import partition_for

TOKEN = re.compile(r"[0-9a-f]{32}")


def seeded_events(count: int, seed: int = 7) -> list[dict[str, object]]:
    rng = random.Random(seed)
    events: list[dict[str, object]] = []
    for i in range(count):
        event: dict[str, object] = {
            "event": rng.choice(["page", "click", "signup"]),
            "properties": {"n": i},
        }
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


def test_track_batches_arrive_once_keyed_on_the_default_partitions(
    start_collector: StartCollector, topic: str, topics: dict[str, str]
) -> None:
    collector = start_collector(COLLECTOR_TOPIC_PARTITIONS="12")
    # The thin streams are created with fewer partitions (collector.config).
    assert partition_count(topics["bots"]) == 3
    assert partition_count(f"{topic}.dlq") == 3
    events = seeded_events(1000)
    with collector.client() as client:
        for start in range(0, len(events), 100):
            batch = events[start : start + 100]
            body = batch if start % 200 else {"batch": batch}
            response = client.post("/track", json=body)
            assert response.status_code == 200, response.text
            assert response.json() == {"accepted": 100, "rejected": 0, "errors": []}

    records = consume_all(topic)
    assert len(records) == len(events)
    envelopes = {msgspec.json.decode(r.value)["properties"]["n"]: r for r in records}
    assert sorted(envelopes) == list(range(len(events)))
    partitions = partition_count(topic)
    assert partitions == 12
    keyless = 0
    for event in events:
        record = envelopes[event["properties"]["n"]]  # type: ignore[index]
        envelope = msgspec.json.decode(record.value)
        assert envelope["event"] == event["event"]
        if "user_id" in event:
            # Keyed by the token, never by the raw id.
            assert TOKEN.fullmatch(envelope["user_id"])
            assert record.key == envelope["user_id"].encode()
            assert str(event["user_id"]).encode() not in record.value
        elif "anonymous_id" in event:
            assert record.key == str(event["anonymous_id"]).encode()
        elif "session_id" in event:
            assert record.key == str(event["session_id"]).encode()
        else:
            assert record.key is None
            keyless += 1
        if record.key is not None:
            assert record.partition == partition_for(record.key, partitions)
    assert keyless > 0


def test_track_keyless_events_have_no_key_rather_than_an_empty_one(
    start_collector: StartCollector, topic: str
) -> None:
    collector = start_collector()
    events = [{"event": "a", "user_id": ""}, {"event": "b", "anonymous_id": None}, {"event": "c"}]
    with collector.client() as client:
        assert client.post("/track", json=events).status_code == 200
    assert [r.key for r in consume_all(topic)] == [None, None, None]


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
        b'{"batch": [], "sent_at": "last tuesday"}': "invalid_shape",
        b'"a string"': "invalid_shape",
        b"\xff\xfe[]": "invalid_json",
        b"[" + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"]": "invalid_json",
        b'[{"event": "a"},]': "invalid_json",
    }
    with collector.client() as client:
        for body, code in bad.items():
            response = client.post("/track", content=body)
            assert response.status_code == 400, body
            assert response.headers["content-type"] == "application/json"
            assert response.json()["error"] == code, body
            assert response.json()["detail"]
        # A valid request afterwards, so there is something to read back.
        assert client.post("/track", json=[{"event": "valid"}]).status_code == 200

    assert [msgspec.json.decode(r.value)["event"] for r in consume_all(topic)] == ["valid"]
    assert consume_all(f"{topic}.dlq") == []


def test_track_wrong_method_and_unknown_route_are_json_errors(
    start_collector: StartCollector,
) -> None:
    collector = start_collector()
    with collector.client() as client:
        response = client.get("/track")
        assert response.status_code == 405
        assert response.json()["error"] == "method_not_allowed"
        response = client.post("/nowhere", json=[])
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
