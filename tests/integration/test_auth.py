"""Write keys and their quotas over real HTTP: 401, 429, and nothing produced for either."""

from __future__ import annotations

from pathlib import Path

import httpx
import msgspec

from tests.integration.conftest import WRITE_KEY, StartCollector
from tests.support.kafka import consume_all
from tests.support.server import BROWSER, CollectorProcess

EVENT = [{"event": "e", "anonymous_id": "a-1"}]


def test_missing_unknown_and_malformed_keys_get_401_and_produce_nothing(
    start_collector: StartCollector, topic: str
) -> None:
    collector = start_collector()
    for client in (collector.client(write_key=None), collector.client(write_key="wrong-key")):
        with client:
            for path in ("/track", "/v1/batch", "/v1/track"):
                body = EVENT if path == "/track" else {"batch": EVENT}
                response = client.post(path, json=body)
                assert response.status_code == 401, path
                assert response.json()["error"] == "unauthorized"
                assert "wrong-key" not in response.text
    garbled = httpx.post(
        f"{collector.url}/track",
        json=EVENT,
        headers={**BROWSER, "Authorization": "Basic !!!not-base64"},
    )
    assert garbled.status_code == 401
    # The key in the query string is honoured on the beacon route only.
    query = httpx.post(f"{collector.url}/track?writeKey={WRITE_KEY}", json=EVENT, headers=BROWSER)
    assert query.status_code == 401
    with collector.client() as client:
        assert client.post("/track", json=[{"event": "ok"}]).status_code == 200
    assert [msgspec.json.decode(r.value)["event"] for r in consume_all(topic)] == ["ok"]


def test_basic_bearer_and_beacon_query_keys_are_accepted(
    start_collector: StartCollector, topic: str
) -> None:
    collector = start_collector()
    url = collector.url
    basic = httpx.post(f"{url}/track", json=EVENT, headers=BROWSER, auth=(WRITE_KEY, ""))
    bearer = httpx.post(
        f"{url}/track", json=EVENT, headers={**BROWSER, "Authorization": f"Bearer {WRITE_KEY}"}
    )
    # What navigator.sendBeacon sends: text/plain, the key in the URL.
    beacon = httpx.post(
        f"{url}/v1/beacon?writeKey={WRITE_KEY}",
        content=msgspec.json.encode(
            {"batch": [{"type": "track", "event": "b", "anonymousId": "a"}]}
        ),
        headers={**BROWSER, "Content-Type": "text/plain;charset=UTF-8"},
    )
    assert [basic.status_code, bearer.status_code, beacon.status_code] == [200, 200, 200]
    assert len(consume_all(topic)) == 3


def test_a_key_over_its_quota_gets_429_and_other_keys_go_on(
    start_collector: StartCollector, topic: str, tmp_path: Path
) -> None:
    config = tmp_path / "collector.toml"
    config.write_text(
        '[write_keys.slow-key]\nname = "slow"\nrate_per_s = 1\nburst = 10\n'
        '[write_keys.busy-key]\nname = "busy"\nrate_per_s = 100000\nburst = 100000\n'
    )
    collector = start_collector(COLLECTOR_CONFIG=str(config), COLLECTOR_WRITE_KEYS="")
    batch = [{"event": "e", "anonymous_id": f"a-{n}"} for n in range(6)]
    with collector.client("slow-key") as slow, collector.client("busy-key") as busy:
        assert slow.post("/track", json=batch).status_code == 200
        refused = slow.post("/track", json=batch)
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        too_big = slow.post("/track", json=batch * 2)
        assert too_big.status_code == 429
        for _ in range(5):
            assert busy.post("/track", json=batch).status_code == 200
        metrics = httpx.get(f"{collector.url}/metrics").text
    assert len(consume_all(topic)) == 6 + 5 * 6
    assert 'collector_rate_limited_events_total{key="slow"} 18.0' in metrics
    assert "slow-key" not in metrics


JSON = {"content-type": "application/json"}


def start_slow_key(start_collector: StartCollector, tmp_path: Path, burst: int) -> CollectorProcess:
    """A collector whose one key, slow-key, takes `burst` events and then next to none."""
    config = tmp_path / "collector.toml"
    config.write_text(f'[write_keys.slow-key]\nname = "slow"\nrate_per_s = 0.01\nburst = {burst}\n')
    return start_collector(COLLECTOR_CONFIG=str(config), COLLECTOR_WRITE_KEYS="")


def test_a_body_refused_as_not_json_uses_none_of_its_keys_quota(
    start_collector: StartCollector, topic: str, tmp_path: Path
) -> None:
    # The native splitter may split such a body by its outline, the quota taken before its
    # events are read: finding one not JSON gives the quota back, and produces nothing.
    collector = start_slow_key(start_collector, tmp_path, burst=10)
    events = [msgspec.json.encode({"event": "e", "anonymous_id": f"a-{n}"}) for n in range(8)]
    broken = b"[" + b",".join([*events[:2], b'{"event": tru}', *events[2:7]]) + b"]"
    with collector.client("slow-key") as slow:
        refused = slow.post("/track", content=broken, headers=JSON)
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_json"
        taken = slow.post("/track", content=b"[" + b",".join(events) + b"]", headers=JSON)
        assert taken.status_code == 200
    assert len(consume_all(topic)) == 8


def test_a_body_that_is_not_json_is_a_400_even_over_the_quota(
    start_collector: StartCollector, topic: str, tmp_path: Path
) -> None:
    collector = start_slow_key(start_collector, tmp_path, burst=2)
    broken = b'[{"event": "e"}, {"event": "e"}, {"event": tru}]'
    with collector.client("slow-key") as slow:
        refused = slow.post("/track", content=broken, headers=JSON)
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_json"
    assert consume_all(topic) == []
