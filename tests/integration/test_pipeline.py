"""The pipeline end to end: a seeded mixed batch over HTTP, every topic read back."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import msgspec

from tests.integration.conftest import StartCollector
from tests.support.kafka import Consumed, consume_all

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
BOTS = {
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)": "crawler",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)": "crawler",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/131.0.0.0 Safari/537.36": "automation",
}
EMAILS = ["ann.lee@example.com", "bo+news@example.org"]
PHONES = ["+1 (555) 123-4567", "+44 20 7946 0958"]
CARDS = ["4111 1111 1111 1111", "5555-5555-5555-4444"]
IPS = ["203.0.113.77", "2001:db8:85a3:1234:5678:8a2e:370:7334"]
RAW_USER_IDS = [f"user-{n}@example.net" for n in range(5)]


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def mixed_batch(seed: int = 11) -> tuple[list[dict[str, object]], list[str]]:
    """People and bots, PII in several fields, a client clock ten minutes behind."""
    rng = random.Random(seed)
    client_now = datetime.now(UTC) - timedelta(minutes=10)
    events: list[dict[str, object]] = []
    kinds = []
    for i in range(60):
        bot = i % 5 == 0
        user_agent = rng.choice(list(BOTS)) if bot else CHROME
        event: dict[str, object] = {
            "event": "checkout" if i % 3 else "signup",
            "event_id": f"evt-{i}",
            "user_id": rng.choice(RAW_USER_IDS),
            "anonymous_id": f"anon-{i % 7}",
            "timestamp": iso(client_now - timedelta(seconds=30)),
            "context": {
                "user_agent": user_agent,
                "ip": IPS[i % 2],
                "page": {"url": f"https://shop.example/?email={EMAILS[i % 2]}"},
                "traits": {"email": EMAILS[(i + 1) % 2], "phone": PHONES[i % 2]},
            },
            "properties": {
                "n": i,
                "note": f"call {PHONES[i % 2]} or mail {EMAILS[i % 2]}",
                "payment": {"card": CARDS[i % 2], "holder": "Ann Lee"},
                "items": [{"sku": "A-1", "contact": EMAILS[0]}],
                "from": f"sent from {IPS[(i + 1) % 2]}",
            },
        }
        kinds.append("bot" if bot else "person")
        events.append(event)
    return events, kinds


def raw_pii() -> list[bytes]:
    full_ips = [*IPS, "2001:db8:85a3:1234:5678:8a2e:370:7334".upper()]
    card_digits = [c.replace(" ", "").replace("-", "") for c in CARDS]
    return [v.encode() for v in [*EMAILS, *PHONES, *CARDS, *card_digits, *full_ips, *RAW_USER_IDS]]


def everything(record: Consumed) -> bytes:
    return b"|".join(
        [record.key or b"", record.value, *(name.encode() + v for name, v in record.headers)]
    )


def test_mixed_batch_routes_bots_tokenizes_pii_and_corrects_clocks(
    start_collector: StartCollector, topics: dict[str, str]
) -> None:
    collector = start_collector()
    events, kinds = mixed_batch()
    invalid = {
        "event": "broken",
        "user_id": RAW_USER_IDS[0],
        "timestamp": "soon",
        "properties": {"mail": EMAILS[0]},
    }
    sent_at = iso(datetime.now(UTC) - timedelta(minutes=10))
    with collector.client() as client:
        response = client.post("/track", json={"batch": [*events, invalid], "sent_at": sent_at})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == len(events)
    assert body["rejected"] == 1
    assert body["errors"][0]["index"] == len(events)
    assert body["errors"][0]["reason"] == "invalid_timestamp"

    web = consume_all(topics["web"])
    bots = consume_all(topics["bots"])
    dlq = consume_all(f"{topics['web']}.dlq")
    others = [*consume_all(topics["mobile"]), *consume_all(topics["server"])]
    assert others == []
    assert len(web) == kinds.count("person")
    assert len(bots) == kinds.count("bot")
    assert len(dlq) == 1

    # Bots only on the bots topic, with the reason in a header.
    for record in web:
        envelope = msgspec.json.decode(record.value)
        assert kinds[envelope["properties"]["n"]] == "person"
        assert "bot" not in dict(record.headers)
    for record in bots:
        envelope = msgspec.json.decode(record.value)
        assert kinds[envelope["properties"]["n"]] == "bot"
        assert dict(record.headers)["bot"] == BOTS[envelope["context"]["user_agent"]].encode()

    # No raw PII anywhere: values, keys or headers of any topic.
    for record in [*web, *bots, *dlq]:
        data = everything(record)
        for secret in raw_pii():
            assert secret not in data, (secret, record)

    received = None
    for record in [*web, *bots]:
        envelope = msgspec.json.decode(record.value)
        headers = dict(record.headers)
        # Keys are tokens (the user id's), and so is every email field.
        assert re.fullmatch(r"[0-9a-f]{32}", envelope["user_id"])
        assert record.key == envelope["user_id"].encode()
        assert re.fullmatch(r"[0-9a-f]{32}", envelope["context"]["traits"]["email"])
        # Not a field named email, so free-text scrubbing, not a rule, caught this one.
        assert envelope["properties"]["items"][0]["contact"] == "[email]"
        assert envelope["context"]["ip"] in {"203.0.113.0", "2001:db8:85a3::"}
        assert "[phone]" in envelope["properties"]["note"]
        assert envelope["properties"]["payment"]["card"] == "[card]"
        assert envelope["properties"]["payment"]["holder"] == "Ann Lee"
        assert headers["schema"] == b"activity.v1"
        assert headers["pii_key_id"].startswith(b"k-")
        # The client's clock was ten minutes behind: corrected times are near the server's.
        skew = envelope["skew_ms"]
        assert 9 * 60_000 < skew < 11 * 60_000
        ts = datetime.fromisoformat(envelope["ts"])
        client_ts = datetime.fromisoformat(envelope["client_ts"])
        assert ts - client_ts == timedelta(milliseconds=skew)
        received = datetime.fromisoformat(envelope["received_at"])
        assert timedelta(0) < received - ts < timedelta(minutes=1)
        assert envelope["event_id"] == f"evt-{envelope['properties']['n']}"
    assert received is not None

    # The DLQ keeps the rejected event (scrubbed) and says why.
    headers = dict(dlq[0].headers)
    assert headers["error"] == b"invalid_timestamp"
    assert dlq[0].key is None
    assert b'"broken"' in dlq[0].value
