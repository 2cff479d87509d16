import re
from collections import Counter
from collections.abc import Sequence

import msgspec
import pytest

from collector.config import Bots, HotKeys, Limits, Pii, Settings, Topics
from collector.envelope import Activity
from collector.normalize import Received
from collector.pii import Tokenizer, key_id_of
from collector.pipeline import Outcome, Pipeline, Record, Rejection

SECRET = b"x" * 32
RECEIVED_MS = 1_795_700_000_000
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
RECEIVED = Received(received_ms=RECEIVED_MS, client_ip="203.0.113.7", user_agent=FIREFOX)


def pipeline(settings: Settings | None = None) -> Pipeline:
    return Pipeline(settings or Settings(), secret=SECRET, new_id=lambda: "fixed-id")


def process(
    events: Sequence[bytes], settings: Settings | None = None, received: Received = RECEIVED
) -> Outcome:
    return pipeline(settings).process(list(events), received)


def token(value: str) -> str:
    return Tokenizer(SECRET).token(value)


def decode(record: Record) -> Activity:
    return msgspec.json.decode(record.value, type=Activity)


def test_process_good_event_becomes_one_web_record() -> None:
    raw = b'{"event":"Signed Up","user_id":"u-1","properties":{"plan":"pro"}}'
    outcome = process([raw])
    assert outcome.rejected == []
    assert outcome.accepted == 1
    assert outcome.bots == Counter()
    assert outcome.salted == 0
    [record] = outcome.records
    assert record.topic == "events.web"
    assert record.key == token("u-1").encode()
    assert re.fullmatch(rb"[0-9a-f]{32}", record.key)
    assert record.headers == (
        ("schema", b"activity.v1"),
        ("tenant", b"default"),
        ("pii_key_id", key_id_of(SECRET).encode()),
        ("event_type", b"track"),
    )
    assert outcome.per_topic == {"events.web": 1}


def test_process_value_is_the_envelope() -> None:
    raw = b'{"event":"Signed Up","user_id":"u-1","properties":{"plan":"pro"}}'
    [record] = process([raw]).records
    assert decode(record) == Activity(
        event_id="fixed-id",
        type="track",
        event="Signed Up",
        source="web",
        received_at="2026-11-26T13:33:20.000Z",
        ts="2026-11-26T13:33:20.000Z",
        user_id=token("u-1"),
        context={"ip": "203.0.113.0", "user_agent": FIREFOX},
        properties={"plan": "pro"},
    )


def test_process_keeps_the_clients_event_id() -> None:
    [record] = process([b'{"event":"x","event_id":"client-1"}']).records
    assert decode(record).event_id == "client-1"


def test_process_event_type_header_follows_the_event() -> None:
    [record] = process([b'{"type":"page","anonymous_id":"a-1"}']).records
    assert ("event_type", b"page") in record.headers
    assert record.key == b"a-1"


def test_process_event_without_identity_has_no_key() -> None:
    [record] = process([b'{"event":"x"}']).records
    assert record.key is None


def test_process_tenant_header_follows_settings() -> None:
    [record] = process([b'{"event":"x"}'], Settings(tenant="acme")).records
    assert ("tenant", b"acme") in record.headers


def test_process_mobile_library_goes_to_the_mobile_topic() -> None:
    raw = b'{"event":"Opened","user_id":"u-1","context":{"library":{"name":"analytics-ios"}}}'
    [record] = process([raw]).records
    assert record.topic == "events.mobile"
    event = decode(record)
    assert event.source == "mobile"
    # An app sends its library's User-Agent, which says nothing about the person.
    assert "user_agent" not in event.context


def test_process_server_library_goes_to_the_server_topic() -> None:
    raw = b'{"event":"Paid","user_id":"u-1","context":{"library":{"name":"analytics-python"}}}'
    [record] = process([raw]).records
    assert record.topic == "events.server"


def test_process_topics_follow_settings() -> None:
    outcome = process([b'{"event":"x"}', b"{}"], Settings(topics=Topics(web="w")))
    assert [record.topic for record in outcome.records] == ["w", "w.dlq"]


def test_process_bot_is_routed_to_the_bots_topic() -> None:
    raw = b'{"event":"x","user_id":"u-1","context":{"user_agent":"%s"}}' % GOOGLEBOT.encode()
    outcome = process([raw])
    [record] = outcome.records
    assert record.topic == "events.bots"
    assert ("bot", b"crawler") in record.headers
    assert ("event_type", b"track") in record.headers
    assert outcome.bots == Counter({"crawler": 1})
    assert outcome.bots_dropped == 0
    assert outcome.accepted == 1
    # Bots go through the PII policy like everyone else.
    assert decode(record).user_id == token("u-1")
    assert decode(record).context["ip"] == "203.0.113.0"


def test_process_bot_from_the_request_user_agent() -> None:
    received = Received(received_ms=RECEIVED_MS, client_ip="203.0.113.7", user_agent="curl/8.5")
    [record] = process([b'{"event":"x"}'], received=received).records
    assert record.topic == "events.bots"
    assert ("bot", b"crawler") in record.headers


def test_process_bots_can_be_dropped() -> None:
    bot = b'{"event":"x","context":{"user_agent":"%s"}}' % GOOGLEBOT.encode()
    person = b'{"event":"y","user_id":"u-1"}'
    outcome = process([bot, person, bot], Settings(bots=Bots(action="drop")))
    assert [record.topic for record in outcome.records] == ["events.web"]
    assert decode(outcome.records[0]).event == "y"
    assert outcome.bots_dropped == 2
    assert outcome.bots == Counter({"crawler": 2})
    assert outcome.accepted == 3
    assert outcome.rejected == []


def test_process_invalid_event_goes_to_the_dlq() -> None:
    invalid = b'{"type":"track","user_id":"u-1"}'
    outcome = process([invalid])
    assert outcome.accepted == 0
    [rejection] = outcome.rejected
    assert rejection == Rejection(0, "missing_event", rejection.detail)
    assert "event" in rejection.detail
    [record] = outcome.records
    assert record.topic == "events.web.dlq"
    assert record.key is None
    # The rejected event, with the user id rule applied as it would have been.
    assert record.value == b'{"type":"track","user_id":"%s"}' % token("u-1").encode()
    assert record.headers == (
        ("tenant", b"default"),
        ("original_bytes", str(len(invalid)).encode()),
        ("error", b"missing_event"),
        ("error_detail", rejection.detail.encode()),
        ("received_at_ms", str(RECEIVED_MS).encode()),
    )
    assert outcome.per_topic == {"events.web.dlq": 1}


def test_process_dlq_value_is_scrubbed() -> None:
    invalid = (
        b'{"type":"track","user_id":"bob@example.com","context":{"ip":"198.51.100.23"},'
        b'"properties":{"card":"4111 1111 1111 1111","phone":"+1 (555) 123-4567"}}'
    )
    [record] = process([invalid]).records
    assert record.topic == "events.web.dlq"
    assert record.value == (
        b'{"type":"track","user_id":"%s","context":{"ip":"198.51.100.0"},'
        b'"properties":{"card":"[card]","phone":"[phone]"}}' % token("bob@example.com").encode()
    )


def test_process_dlq_value_without_anything_to_redact_keeps_its_bytes() -> None:
    invalid = b'{"type":  "track", "anonymous_id": "a-1"}'
    [record] = process([invalid]).records
    assert record.value == invalid


def test_process_dlq_value_redacts_segment_spelling_and_unparseable_text() -> None:
    settings = Settings()
    segment = b'{"type":"track","userId":"bob","traits":{"email":"bob@example.com"}}'
    [record] = process([segment], settings).records
    decoded = msgspec.json.decode(record.value)
    assert decoded["userId"] == token("bob")
    assert decoded["traits"]["email"] == token("bob@example.com")
    [record] = process([b'{"event": "x", "note": "mail bob@example.com" '], settings).records
    assert b"bob@example.com" not in record.value
    assert b"[email]" in record.value


def test_process_dlq_error_detail_is_scrubbed() -> None:
    outcome = process([b'{"event":"x","timestamp":"bob@example.com"}'])
    [record] = outcome.records
    assert outcome.rejected[0].reason == "invalid_timestamp"
    headers = dict(record.headers)
    assert headers["error"] == b"invalid_timestamp"
    assert b"bob@example.com" not in headers["error_detail"]
    assert b"[email]" in headers["error_detail"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "invalid_json"),
        (b'{"event":"x"', "invalid_json"),
        (b'{"event":"x","user_id":[1]}', "invalid_field"),
        (b'{"type":"bogus"}', "invalid_field"),
        (b'{"type":"track"}', "missing_event"),
        (b'{"event":"x","timestamp":"yesterday"}', "invalid_timestamp"),
        (b'{"event":"x","properties":{"a":"%s"}}' % (b"y" * 9000), "string_too_long"),
    ],
)
def test_process_rejection_reasons(raw: bytes, reason: str) -> None:
    outcome = process([raw])
    assert [r.reason for r in outcome.rejected] == [reason]
    assert dict(outcome.records[0].headers)["error"] == reason.encode()


def test_process_dlq_of_a_source_follows_the_write_key_source() -> None:
    received = Received(received_ms=RECEIVED_MS, source="mobile")
    [record] = process([b"{}"], received=received).records
    assert record.topic == "events.mobile.dlq"


def test_process_invalid_event_does_not_stop_its_siblings() -> None:
    events = [
        b'{"event":"a","user_id":"u-1"}',
        b'{"type":"track"}',
        b'{"event":"b","user_id":"u-2"}',
        b"not json",
        b'{"event":"c"}',
    ]
    outcome = process(events)
    assert outcome.accepted == 3
    assert [(r.index, r.reason) for r in outcome.rejected] == [
        (1, "missing_event"),
        (3, "invalid_json"),
    ]
    assert [record.topic for record in outcome.records] == [
        "events.web",
        "events.web.dlq",
        "events.web",
        "events.web.dlq",
        "events.web",
    ]
    produced = [decode(r).event for r in outcome.records if r.topic == "events.web"]
    assert produced == ["a", "b", "c"]


def test_process_every_event_ends_up_in_exactly_one_place() -> None:
    bot = b'{"event":"x","context":{"user_agent":"%s"}}' % GOOGLEBOT.encode()
    events = [b'{"event":"a"}', bot, b"{}", bot, b'{"event":"b"}']
    for action in ("route", "drop"):
        outcome = process(events, Settings(bots=Bots(action=action)))
        assert outcome.accepted + len(outcome.rejected) == len(events)
        assert len(outcome.records) + outcome.bots_dropped == len(events)


def test_process_hot_keys_are_salted() -> None:
    settings = Settings(hot_keys=HotKeys(max_events_per_key=3))
    events = [b'{"event":"e%d","user_id":"u-1"}' % i for i in range(10)]
    outcome = process(events, settings)
    user = token("u-1").encode()
    keys = [record.key for record in outcome.records]
    assert keys == [user] * 3 + [user + b"#%d" % salt for salt in range(7)]
    salts = [dict(record.headers).get("salt") for record in outcome.records]
    assert salts == [None] * 3 + [str(salt).encode() for salt in range(7)]
    assert outcome.salted == 7
    assert outcome.accepted == 10


def test_process_hot_key_salts_wrap_around() -> None:
    settings = Settings(hot_keys=HotKeys(max_events_per_key=1, salts=3))
    events = [b'{"event":"x","user_id":"u-1"}'] * 6
    outcome = process(events, settings)
    user = token("u-1").encode()
    assert [record.key for record in outcome.records] == [
        user,
        user + b"#0",
        user + b"#1",
        user + b"#2",
        user + b"#0",
        user + b"#1",
    ]
    assert outcome.salted == 5


def test_process_hot_key_does_not_salt_other_keys() -> None:
    settings = Settings(hot_keys=HotKeys(max_events_per_key=3))
    events = [b'{"event":"x","user_id":"u-1"}'] * 5 + [b'{"event":"x","user_id":"u-2"}']
    outcome = process(events, settings)
    assert outcome.records[-1].key == token("u-2").encode()
    assert "salt" not in dict(outcome.records[-1].headers)
    assert outcome.salted == 2


MIXED_BATCH = [
    # A person on the web, PII everywhere the default policy looks.
    b'{"event":"Signed Up bob@example.com","user_id":"bob@example.com",'
    b'"context":{"page":{"url":"https://shop.example/?email=bob@example.com&ip=198.51.100.23"},'
    b'"traits":{"email":"bob@example.com","phone":"+1 (555) 123-4567",'
    b'"notes":"office +44 20 7946 0958"}},'
    b'"properties":{"note":"card 4111 1111 1111 1111 or 5555-5555-5555-4444 please",'
    b'"contacts":[{"email":"ann@example.org"},{"email":"carl@example.net"}],'
    b'"support":"call 555-123-4567 from 10.20.30.40"}}',
    # An app that sends its own client address.
    b'{"event":"Opened","user_id":"ann@example.org","context":{"ip":"198.51.100.23",'
    b'"library":{"name":"analytics-android"},"traits":{"email":"ann@example.org"}},'
    b'"properties":{"phone":"+15551234567"}}',
    # A crawler, routed to the bots topic.
    b'{"event":"Crawled","user_id":"carl@example.net","context":{"user_agent":"curl/8.5.0"},'
    b'"properties":{"q":"bob@example.com 4111111111111111"}}',
    # Invalid events: to the DLQ, scrubbed.
    b'{"type":"track","user_id":"bob@example.com","context":{"ip":"203.0.113.7"},'
    b'"properties":{"card":"4111-1111-1111-1111","phone":"555-123-4567"}}',
    b'{"event":"x","timestamp":"ann@example.org","user_id":"+1 (555) 123-4567"}',
    b'{"event":"broken","user_id":"carl@example.net","note":"10.20.30.40"',
]
RAW_PII = [
    b"bob@example.com",
    b"ann@example.org",
    b"carl@example.net",
    b"@example",
    b"555-123-4567",
    b"(555) 123-4567",
    b"5551234567",
    b"7946 0958",
    b"4111 1111 1111 1111",
    b"4111-1111-1111-1111",
    b"4111111111111111",
    b"5555-5555-5555-4444",
    b"203.0.113.7",
    b"198.51.100.23",
    b"10.20.30.40",
]


def test_process_mixed_batch_leaks_no_raw_pii() -> None:
    outcome = process(MIXED_BATCH)
    assert outcome.accepted == 3
    assert len(outcome.rejected) == 3
    assert {record.topic for record in outcome.records} == {
        "events.web",
        "events.mobile",
        "events.bots",
        "events.web.dlq",
    }
    produced: list[bytes] = []
    for record in outcome.records:
        produced.append(record.value)
        produced.append(record.key or b"")
        produced.extend(name.encode() + b"=" + value for name, value in record.headers)
    for blob in produced:
        for pii in RAW_PII:
            assert pii not in blob, (pii, blob)
    # Every card has to have become a placeholder, not just lost its formatting.
    everything = b"\n".join(produced)
    assert b"[card]" in everything
    assert b"[phone]" in everything
    assert b"[email]" in everything
    assert b"[ip]" in everything


def test_process_mixed_batch_keeps_what_is_not_pii() -> None:
    outcome = process(MIXED_BATCH)
    web, mobile, bot = (r for r in outcome.records if not r.topic.endswith(".dlq"))
    assert decode(web).context["ip"] == "203.0.113.0"
    assert decode(web).context["traits"]["email"] == token("bob@example.com")
    assert decode(web).properties["contacts"] == [
        {"email": token("ann@example.org")},
        {"email": token("carl@example.net")},
    ]
    assert decode(mobile).context["ip"] == "198.51.100.0"
    assert mobile.key == token("ann@example.org").encode()
    assert bot.key == token("carl@example.net").encode()
    assert decode(bot).properties == {"q": "[email] [card]"}


def test_process_is_deterministic() -> None:
    first = process(MIXED_BATCH)
    second = process(MIXED_BATCH)
    assert first.records == second.records
    assert first.rejected == second.rejected
    assert (first.accepted, first.bots, first.salted) == (
        second.accepted,
        second.bots,
        second.salted,
    )


def test_process_different_secrets_give_different_tokens() -> None:
    raw = [b'{"event":"x","user_id":"u-1"}']
    mine = process(raw).records[0]
    theirs = Pipeline(Settings(), secret=b"y" * 32, new_id=lambda: "fixed-id").process(
        raw, RECEIVED
    )
    assert mine.key != theirs.records[0].key
    assert dict(mine.headers)["pii_key_id"] != dict(theirs.records[0].headers)["pii_key_id"]


def without_properties_rules() -> Settings:
    return Settings(pii=Pii(rules={"user_id": "tokenize"}, scrub_paths=["event", "context.page"]))


def test_process_passes_untouched_properties_through_byte_for_byte() -> None:
    # No rule or scrub path reaches into properties: the client's bytes go out unchanged.
    raw = b'{"event": "a", "properties": {"price" : 1.50, "note": "caf\\u00e9"}}'
    outcome = process([raw], without_properties_rules())
    value = outcome.records[0].value
    assert b'"properties":{"price" : 1.50, "note": "caf\\u00e9"}' in value
    assert msgspec.json.decode(value)["properties"] == {"price": 1.5, "note": "café"}


def test_process_passed_through_properties_still_obey_the_limits() -> None:
    raw = msgspec.json.encode({"event": "a", "properties": {"a": {"b": {"c": {"d": 1}}}}})
    settings = Settings(pii=without_properties_rules().pii, limits=Limits(max_depth=2))
    outcome = process([raw], settings)
    assert [r.reason for r in outcome.rejected] == ["too_deep"]


def test_process_properties_of_the_wrong_type_are_rejected() -> None:
    for settings in (Settings(), without_properties_rules()):
        outcome = process([b'{"event": "a", "properties": [1]}'], settings)
        assert [r.reason for r in outcome.rejected] == ["invalid_field"]
        assert outcome.rejected[0].detail.endswith("at `$.properties`")


def test_process_null_or_empty_properties_become_an_empty_object() -> None:
    for settings in (Settings(), without_properties_rules()):
        outcome = process([b'{"event": "a", "properties": null}', b'{"event": "b"}'], settings)
        assert [msgspec.json.decode(r.value)["properties"] for r in outcome.records] == [{}, {}]


def test_process_scrubs_properties_under_the_default_policy() -> None:
    raw = b'{"event": "a", "properties": {"note": "mail ann@example.com"}}'
    outcome = process([raw])
    assert msgspec.json.decode(outcome.records[0].value)["properties"] == {"note": "mail [email]"}


def test_process_dlq_value_of_a_huge_event_is_cut() -> None:
    invalid = msgspec.json.encode({"event": "a", "properties": {"x": "y" * 100_000}})
    outcome = process([invalid])
    [record] = outcome.records
    assert outcome.rejected[0].reason == "event_too_large"
    assert len(record.value) <= 16 * 1024
    assert dict(record.headers)["original_bytes"] == str(len(invalid)).encode()


def test_process_rejects_nesting_too_deep_to_decode_and_keeps_the_siblings() -> None:
    deep = b'{"event": "a", "properties": {"x": ' + b"[" * 5000 + b"]" * 5000 + b"}}"
    outcome = process([deep, b'{"event": "ok"}'])
    assert [r.reason for r in outcome.rejected] == ["too_deep"]
    assert outcome.accepted == 1


@pytest.mark.parametrize(
    "bad",
    [
        b'{"event": "\xff"}',
        b'{"event": "a", "context": {"page": "\xed\xa0\x80"}}',
        b'{"event": "a", "properties": {"x": "caf\xc3"}}',
    ],
)
def test_process_invalid_utf8_rejects_that_event_only(bad: bytes) -> None:
    outcome = process([b'{"event": "before"}', bad, b'{"event": "after"}'])
    assert [decode(r).event for r in outcome.records if not r.topic.endswith(".dlq")] == [
        "before",
        "after",
    ]
    assert [(r.index, r.reason) for r in outcome.rejected] == [(1, "invalid_json")]
    [dead] = [r for r in outcome.records if r.topic.endswith(".dlq")]
    assert dict(dead.headers)["error"] == b"invalid_json"
