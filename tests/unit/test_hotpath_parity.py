"""The native hot path and its Python twin give identical records for identical batches.

Hypothesis builds random batches (unicode, surrogate escapes, huge and negative numbers, deep
nesting, missing, null and wrongly typed fields, bots, PII) and random policies; both
pipelines start fresh with the same settings, ids and clock, and must agree on every record
(topic, key, value bytes, headers), every rejection and every count.
"""

from __future__ import annotations

import itertools
import os
import random
import string
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector import native, pii
from collector.config import Bots, HotKeys, Limits, Pii, Settings
from collector.decoding import decode_with_msgspec
from collector.errors import BadRequest
from collector.normalize import Received
from collector.pipeline import Outcome
from collector.pipeline import Pipeline as PythonPipeline
from tests.support.text import pii_like_text

pytestmark = pytest.mark.skipif(
    native.IMPLEMENTATION != "native", reason="the native extension is not built"
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_hot_path_under_test_is_the_build_asked_for() -> None:
    # scripts/test-sanitize runs these tests against a sanitized copy of the package and
    # names it here: pytest's own `pythonpath` once put the normal build first, and the
    # sanitizers then watched a module with nothing to watch.
    expected = os.environ.get("COLLECTOR_TEST_HOTPATH_DIR")
    if not expected:
        pytest.skip("no particular build asked for")
    import collector._hotpath

    assert Path(collector._hotpath.__file__).is_relative_to(expected)


SECRET = b"parity-secret-0123456789abcdef"
NOW = 1_795_700_000_000
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131",
    "curl/8.5.0",
    # One the free-text scrub changes: the context's copy must come out scrubbed.
    "Mozilla/5.0 (X11; ann.lee@example.com) Gecko/20100101 Firefox/133.0",
    "",
]
PII_TEXT = [
    "ann.lee@example.com",
    "zoë@exämple.de",
    "call +1 (555) 123-4567",
    "555-123-4567 555-987-6543",
    "card 4111 1111 1111 1111.",
    "5555555555554444",
    "from 203.0.113.77",
    "v6 2001:db8::8a2e:370:7334",
    "::ffff:192.0.2.1",
    "2026-11-26 14:25:07",
    "Chrome/131.0.0.0",
]
LIBRARIES = ["analytics-ios", "analytics-android", "analytics-python", "analytics.js", "x"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(PII_TEXT),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=6), st.sampled_from(["email", "phone", "ip", "note"])),
            children,
            max_size=4,
        ),
    ),
    max_leaves=12,
)
# Mostly valid values, so that most events get past normalization to the later stages.
identities = st.one_of(
    st.sampled_from(["user-1", "user-2", "anon-1", "ann.lee@example.com", "Zoë 🙂"]),
    st.sampled_from(["user-1", "user-2", "anon-1"]),
    st.text(max_size=10),
    st.none(),
    st.just(""),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.booleans(),
)
times = st.one_of(
    st.none(),
    st.integers(min_value=NOW - 10**12, max_value=NOW + 10**9),
    st.integers(min_value=-(10**18), max_value=10**18),
    st.sampled_from(
        [
            "2026-11-26T14:25:07.123Z",
            "2026-11-26T14:25:07+05:30",
            "2026-11-26",
            "1999-12-31T23:59:59Z",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "yesterday",
            "",
        ]
    ),
    st.booleans(),
)


# Trees as a client may write them, put in verbatim: spacing, number spellings, duplicate keys,
# escapes, invalid UTF-8 and control characters, rules meeting scalars and containers, what
# the bot verdict and the source read from context. The native path rewrites plain trees as
# bytes and must agree with the twin's decode-walk-encode on every one of these.
RAW_TREES = [
    b'{ "a" : 1 ,\n "b" : [ 1 , 2 ] ,\t"c" : { } , "d" : [ ] }',
    b'{"n": [1E5, -0, 1.50, 0e0, -0.0, 1e-400, 123456789012345678, -12345678901234567]}',
    b'{"n": -0, "m": [0, -1, 2.5e-3]}',
    b'{"n": -123456789012345678901}',
    b'{"n": 1e400}',
    b'{"a": 1, "a": 2}',
    b'{"a": "\xff"}',
    b'{"a": "\xed\xa0\x80"}',
    b'{"a": "\xc0\xaf"}',
    b'{"a": "x\ty"}',
    # The same inside long plain runs, which the native scanner takes eight bytes at a time.
    b'{"a": "abcdefghijklmnop\tqrstuvwxyz0123456789"}',
    b'{"a": "abcdefghijklmnop\xffqrstuvwxyz"}',
    b'{"a": "abcdefghijklmnop\xed\xa0\x80qrstuvwxyz"}',
    # Arabic-Indic digits: a phone number to the scrubber.
    b'{"note": "call me on '
    + "".join(chr(0x660 + int(d)) if d != " " else d for d in "555 123 4567").encode()
    + b' now"}',
    b'{"kkkkkkkkkkkkkkkkkkkkkkkkk\xc3\xa9": "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\xc3\xa9"}',
    b'{"a": "caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x99\x82 \x7f \xd9\xa3 digits"}',
    b'{"a": "tab\\tand \\"quote\\" \\u00e9"}',
    b'{"email": 12345, "ip": true, "phone": null, "note": 1.5, "name": false}',
    b'{"email": {"x": 1}, "phone": [1, "a"]}',
    b'{"library": {"name": "analytics-ios"}, "user_agent": 5, "webdriver": "true"}',
    b'{"library": [{"name": "analytics-python"}], "ip": null, "user_agent": ""}',
    b'{"library": {"name": 7}, "webdriver": true, "ip": "198.51.100.23"}',
    b'{"page": {"url": "https://x.example/a?b=1&c=bob@example.com", "title": "Call 555 123 4567"}}',
    b'{"traits": {"email": "a@b.co", "note": "ann@example.com"}, "x": ["4111 1111 1111 1111"]}',
    b"[1, 2]",
    b'"text"',
    b"null",
    b"{}",
    b'{"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}',
    b'{"kkkkkkkkkk": "vvvvvvvvvv", "k": ["vvvvvvvvvv"]}',
    b'{"a": -}',
    b'{"a": 01}',
    b'{"a": tru}',
    b'{"a": 1,}',
    b'{"a" 1}',
]


@st.composite
def events(draw: st.DrawFn) -> bytes:
    event: dict[str, Any] = {}
    for field, strategy in [
        ("type", st.sampled_from(["track", "track", "page", "screen", "identify", "bogus", 7])),
        ("event", st.one_of(st.sampled_from(PII_TEXT), st.text(max_size=8), st.none())),
        ("event_id", st.one_of(st.none(), st.just(""), st.text(max_size=8), st.integers())),
        ("user_id", identities),
        ("anonymous_id", identities),
        ("group_id", identities),
        ("previous_id", identities),
        (
            "traits",
            st.one_of(st.none(), st.dictionaries(st.text(max_size=6), json_values, max_size=3)),
        ),
        ("session_id", identities),
        ("timestamp", times),
        ("sent_at", times),
        (
            "properties",
            st.one_of(
                st.none(),
                st.dictionaries(st.text(max_size=6), json_values, max_size=5),
                st.lists(scalars, max_size=2),
            ),
        ),
    ]:
        if draw(st.booleans()):
            event[field] = draw(strategy)
    if draw(st.booleans()):
        context: dict[str, Any] = draw(
            st.dictionaries(st.text(max_size=5), json_values, max_size=3)
        )
        if draw(st.booleans()):
            context["user_agent"] = draw(st.sampled_from([*AGENTS, None, 5]))
        if draw(st.booleans()):
            context["ip"] = draw(
                st.sampled_from(["203.0.113.9", "2001:db8::1", "01.2.3.4", "nope", 5])
            )
        if draw(st.booleans()):
            context["library"] = {"name": draw(st.sampled_from(LIBRARIES))}
        if draw(st.booleans()):
            context["webdriver"] = draw(st.sampled_from([True, False, "true", 1]))
        if draw(st.booleans()):
            context["traits"] = {"email": draw(st.sampled_from(PII_TEXT)), "name": "Ann"}
        event["context"] = context
    for tree in ("context", "properties", "traits"):
        if draw(st.integers(0, 3)) == 0:
            event[tree] = msgspec.Raw(draw(st.sampled_from(RAW_TREES)))
    raw = msgspec.json.encode(event)
    mutation = draw(st.sampled_from(["none", "none", "surrogates", "lone", "garbage", "array"]))
    if mutation == "surrogates" and raw.endswith(b"}"):
        raw = raw[:-1] + (b', "x": "\\ud83d\\ude00 caf\\u00e9"}' if len(raw) > 2 else b'"x": 1}')
    elif mutation == "lone" and raw.endswith(b"}"):
        raw = raw[:-1] + (b', "x": "\\udc00"}' if len(raw) > 2 else b'"x": "\\ud800"}')
    elif mutation == "garbage":
        raw = b"{not json"
    elif mutation == "array":
        raw = b"[1, 2]"
    return raw


policies = st.builds(
    Settings,
    bots=st.builds(
        Bots,
        action=st.sampled_from(["route", "drop"]),
        max_events_per_ip=st.sampled_from([2, 6000]),
        max_events_per_anonymous_id=st.sampled_from([1, 600]),
        flag_missing_user_agent=st.booleans(),
    ),
    pii=st.one_of(
        st.just(Pii()),
        st.builds(
            Pii,
            rules=st.sampled_from(
                [
                    {"user_id": "tokenize", "context.ip": "truncate_ip"},
                    {"**.email": "mask", "properties.*": "drop", "anonymous_id": "tokenize"},
                    {"**.note": "drop", "**.phone": "tokenize", "context.*.name": "mask"},
                    {"session_id": "drop", "event": "mask", "**.ip": "truncate_ip"},
                    {"anonymous_id": "mask", "user_id": "drop"},
                    {"anonymous_id": "drop", "previous_id": "mask"},
                ]
            ),
            scrub_paths=st.sampled_from(
                [[], ["event"], ["properties"], ["context"], ["context.page", "context.traits"]]
            ),
        ),
    ),
    limits=st.one_of(
        st.just(Limits()),
        st.just(Limits()),
        st.just(Limits()),
        st.builds(
            Limits,
            max_event_bytes=st.sampled_from([120, 32 * 1024]),
            max_string_length=st.sampled_from([4, 9, 8192]),
            max_properties=st.sampled_from([2, 256]),
            max_depth=st.sampled_from([1, 2, 10]),
        ),
    ),
    hot_keys=st.builds(
        HotKeys, max_events_per_key=st.sampled_from([1, 20_000]), salts=st.sampled_from([1, 3, 8])
    ),
)


def counter_ids() -> Callable[[], str]:
    count = itertools.count()
    return lambda: f"id-{next(count)}"


class RewindableIds:
    """counter_ids that can be set back: the ids a pipeline drew for a body it then refused
    are drawn again for the next (the collector's are random, so nothing else can tell)."""

    def __init__(self) -> None:
        self.drawn = 0

    def __call__(self) -> str:
        self.drawn += 1
        return f"id-{self.drawn - 1}"


def as_plain(outcome: Outcome) -> tuple[Any, ...]:
    # The sink's metrics count records by topic from this, not from the records.
    assert outcome.per_topic == Counter(record.topic for record in outcome.records)
    # By index: the native batch's iteration is made of its indexing.
    records = [outcome.records[i] for i in range(len(outcome.records))]
    return (
        {type(record) for record in records},
        [tuple(record) for record in records],
        [(r.index, r.reason, r.detail) for r in outcome.rejected],
        outcome.accepted,
        dict(outcome.bots),
        outcome.bots_dropped,
        outcome.salted,
    )


SEGMENT_NAMES = {
    b'"event_id"': b'"messageId"',
    b'"user_id"': b'"userId"',
    b'"anonymous_id"': b'"anonymousId"',
    b'"sent_at"': b'"sentAt"',
    b'"group_id"': b'"groupId"',
    b'"previous_id"': b'"previousId"',
    b'"user_agent"': b'"userAgent"',
    b'"event"': b'"name"',
}


def spelled(raw: bytes, received: Received) -> bytes:
    """The event as a Segment library would spell it, when the batch is Segment's."""
    if received.dialect == "track":
        return raw
    for ours, theirs in SEGMENT_NAMES.items():
        raw = raw.replace(ours, theirs)
    return raw


def run_both(
    policy: Settings, batches: list[tuple[list[bytes], Received]], respell: bool = True
) -> None:
    # Two native pipelines: one is given msgspec's slices, the other, when the batch makes a
    # body the native splitter takes, that splitter's (read in place by the pipeline). A
    # body with an event that is not JSON may split by its outline: then reading it must
    # refuse it whole, leave that pipeline as it was, and the slices then agree.
    python = PythonPipeline(policy, SECRET, counter_ids())
    fast = native.Pipeline(policy, SECRET, counter_ids())
    split_ids = RewindableIds()
    fast_split = native.Pipeline(policy, SECRET, split_ids)
    for raw_batch, received in batches:
        batch = [spelled(raw, received) if respell else raw for raw in raw_batch]
        expected = as_plain(python.process(batch, received))
        slices = [msgspec.Raw(e) for e in batch]
        assert as_plain(fast.process(slices, received)) == expected
        body = b"[" + b",".join(batch) + b"]"
        split = native.split_array(body, lambda body=body: decode_with_msgspec(body).events)
        if split is not None and msgspec_refuses(body):
            drawn = split_ids.drawn
            with pytest.raises(BadRequest):
                fast_split.process(split, received)
            split_ids.drawn = drawn
            split = None
        got = as_plain(fast_split.process(split if split is not None else slices, received))
        assert got == expected


def msgspec_refuses(body: bytes) -> bool:
    try:
        decode_with_msgspec(body)
    except BadRequest:
        return True
    return False


received_values = st.builds(
    Received,
    received_ms=st.integers(min_value=NOW, max_value=NOW + 200_000),
    sent_ms=st.one_of(st.none(), st.integers(min_value=NOW - 10**9, max_value=NOW + 10**9)),
    client_ip=st.sampled_from([None, "198.51.100.7", "2001:db8:1::9"]),
    user_agent=st.sampled_from([None, *AGENTS]),
    source=st.sampled_from([None, None, "web", "mobile", "server"]),
    dialect=st.sampled_from(["track", "track", "segment"]),
    default_type=st.sampled_from(["track", "page", "identify", "alias"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policy=policies,
    batches=st.lists(
        st.tuples(st.lists(events(), max_size=8), received_values), min_size=1, max_size=4
    ),
)
def test_native_and_python_pipelines_agree(
    policy: Settings, batches: list[tuple[list[bytes], Received]]
) -> None:
    # Received times only move forward, as a server's clock does across requests.
    ordered = sorted(batches, key=lambda b: b[1].received_ms)
    run_both(policy, ordered)


@pytest.mark.parametrize(("count", "size"), [(40, 100), (4, 300)])
def test_native_and_python_agree_on_the_seeded_benchmark_mix(count: int, size: int) -> None:
    from collector.decoding import decode_with_msgspec
    from loadtest.payloads import client_ips, track_bodies

    bodies = track_bodies(count, size)
    ips = client_ips(len(bodies))
    # The mix the benchmark times is split natively, not left to msgspec.
    assert all(native.split_array(body) is not None for body in bodies)
    batches = [
        (
            [bytes(e) for e in decode_with_msgspec(body).events],
            Received(received_ms=NOW + i * 20, client_ip=ips[i], user_agent=AGENTS[0]),
        )
        for i, body in enumerate(bodies)
    ]
    run_both(Settings(), batches)


def test_native_makes_uuid7_event_ids_when_none_is_given() -> None:
    import uuid

    outcome = native.Pipeline(Settings(), SECRET).process(
        [msgspec.Raw(b'{"event": "a"}')] * 50, Received(received_ms=NOW)
    )
    ids = [msgspec.json.decode(r.value)["event_id"] for r in outcome.records]
    assert len(set(ids)) == 50
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert parsed.int >> 80 == NOW
    # Every hex digit in every place: the time's twelve digits, read back from the text.
    for received_ms in [0x0123456789AB, 0x0FEDCBA98765]:
        outcome = native.Pipeline(Settings(), SECRET).process(
            [msgspec.Raw(b'{"event": "a"}')], Received(received_ms=received_ms)
        )
        text = msgspec.json.decode(outcome.records[0].value)["event_id"]
        assert uuid.UUID(text).int >> 80 == received_ms
        assert text.startswith(f"{received_ms >> 16:08x}-{received_ms & 0xFFFF:04x}-7")


def test_a_forked_worker_draws_its_own_event_id_randomness() -> None:
    import os

    pipeline = native.Pipeline(Settings(), SECRET)

    def next_id() -> str:
        outcome = pipeline.process([msgspec.Raw(b'{"event": "a"}')], Received(received_ms=NOW))
        return str(msgspec.json.decode(outcome.records[0].value)["event_id"])

    next_id()  # the parent has drawn random bytes in bulk
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.write(write, next_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    child_id = os.read(read, 64).decode()
    os.close(read)
    parent_id = next_id()
    # The time part is the same (NOW); the random tail must not be.
    assert child_id[:8] == parent_id[:8]
    assert child_id[19:] != parent_id[19:]


@pytest.mark.parametrize("tree", ["context", "properties", "traits"])
def test_native_and_python_agree_on_every_raw_tree(tree: str) -> None:
    events = [
        msgspec.json.encode({"event": "e", "anonymous_id": "a", tree: msgspec.Raw(raw)})
        for raw in RAW_TREES
    ]
    received = Received(received_ms=NOW, client_ip="198.51.100.7", user_agent=AGENTS[0])
    scrub_all = Pii(
        rules={"**.email": "tokenize", "**.ip": "truncate_ip", "**.note": "drop"},
        scrub_paths=["context", "properties", "traits"],
    )
    for policy in [Settings(), Settings(pii=scrub_all), Settings(limits=Limits(max_depth=2))]:
        run_both(policy, [(events, received)])


# Whole events as clients may write them: the native path reads plain top-level fields from
# the bytes too.
RAW_EVENTS = [
    b' {\n "event" : "e" ,\t"anonymous_id":"a" , "extra": {"deep": [1, {"x": null}]} } ',
    b'{"event": "e", "event": "f"}',
    b'{"event": "e", "user_id": -0, "anonymous_id": 123456789012345678, "session_id": 7}',
    b'{"event": "e", "user_id": 1234567890123456789012}',
    b'{"event": "e", "user_id": 1.5}',
    b'{"event": "e", "user_id": true}',
    b'{"event": "e", "type": "page"}',
    b'{"event": "e", "type": "Page"}',
    b'{"event": "e", "type": null}',
    b'{"event": null, "type": "identify", "traits": {"email": "a@b.co"}}',
    b'{"event": 5}',
    b'{"event": "e", "event_id": 5}',
    b'{"event": "e", "timestamp": -5, "sent_at": "2026-11-26T14:25:07Z"}',
    b'{"event": "e", "timestamp": 1.5}',
    b'{"event": "caf\xc3\xa9", "anonymous_id": "\xe2\x80\xa8"}',
    b'{"event": "e\\u00e9"}',
    b'{"event": "e", "unknown": "\xff"}',
    b'{"event": "e", "unknown": [1, 2,]}',
    b'{"event": "e", "unknown": 1e400}',
    b'{"event": "e"} trailing',
    b'{"event": "e",}',
    b"{}",
    b'{"properties": {"a": 1}, "event": "e", "properties": {"b": 2}}',
    b'{"context": null, "properties": null, "traits": null, "event": "e"}',
]


@pytest.mark.parametrize("raw", RAW_EVENTS)
def test_native_and_python_agree_on_raw_events(raw: bytes) -> None:
    received = Received(received_ms=NOW, client_ip="198.51.100.7", user_agent=AGENTS[0])
    for policy in [Settings(), Settings(pii=Pii(rules={}, scrub_paths=[]))]:
        run_both(policy, [([raw, b'{"event": "sibling"}'], received)])


# Events as Segment's libraries write them, with what the byte path must get right or leave
# to the decoded one: userAgent renamed (and moved), `name` for `event`, a null type.
SEGMENT_RAW_EVENTS = [
    b'{"type": "track", "event": "e", "messageId": "m-1", "userId": 7, "anonymousId": "a",'
    b' "context": {"userAgent": "Mozilla/5.0 (X11; Linux x86_64)", "page": {"path": "/"}}}',
    b'{"event": "e", "context": {"page": {}, "userAgent": "curl/8.0", "ip": "203.0.113.9"}}',
    b'{"event": "e", "context": {"userAgent": "x"}}',
    b'{"event": "e", "context": {"userAgent": "x", "user_agent": "y"}}',
    b'{"event": "e", "context": {"user_agent": "y", "userAgent": "x"}}',
    b'{"event": "e", "context": {"userAgent": "x", "userAgent": "y"}}',
    b'{"event": "e", "context": {"userAgent": null}}',
    b'{"event": "e", "context": {"userAgent": 5}}',
    b'{"event": "e", "context": {"userAgent": "caf\\u00e9 bot"}}',
    b'{"event": "e", "context": {"userAgent": "call +1 555 0100 0199"}}',
    b'{"event": "e", "context": {"library": {"name": "analytics-ios"}, "userAgent": "x"}}',
    b'{"event": "e", "context": {"library": {"userAgent": "nested"}}}',
    b'{"event": "e", "context": null}',
    b'{"name": "Home", "type": "page"}',
    b'{"name": "Home", "event": "e"}',
    b'{"event": "e", "name": "n", "name": "m"}',
    b'{"name": null, "event": null, "type": "track"}',
    b'{"name": 5, "type": "page"}',
    b'{"type": null, "event": "e"}',
    b'{"type": "Track", "event": "e"}',
    b'{"event": "e", "sessionId": "s", "session_id": "s2", "integrations": {"All": true}}',
    b'{"event": "e", "sentAt": "2026-11-26T14:25:07Z", "timestamp": "2026-11-26T14:25:06Z"}',
    b'{"event": "e", "messageId": 5}',
    b'{"event": "e", "message_id": "ignored", "user_id": "ignored", "userId": "u"}',
    b'{"type": "group", "groupId": "g", "traits": {"email": "a@b.co"}, "anonymousId": 5}',
    b'{"type": "alias", "previousId": "p", "userId": "u"}',
]


@pytest.mark.parametrize("raw", SEGMENT_RAW_EVENTS)
def test_native_and_python_agree_on_segment_events(raw: bytes) -> None:
    user_agent_rules = Pii(rules={"context.user_agent": "mask", "**.userAgent": "drop"})
    policies = [
        Settings(),
        Settings(pii=user_agent_rules),
        Settings(pii=Pii(scrub_paths=["context"])),
        Settings(limits=Limits(max_string_length=8, max_properties=2)),
        # "userAgent" fits in 9 characters, the "user_agent" it becomes does not.
        Settings(limits=Limits(max_string_length=9)),
    ]
    for default_type in ("track", "page"):
        received = Received(
            received_ms=NOW,
            client_ip="198.51.100.7",
            user_agent=AGENTS[0],
            dialect="segment",
            default_type=default_type,
        )
        for policy in policies:
            run_both(policy, [([raw, b'{"event": "sibling"}'], received)], respell=False)


def test_native_and_python_agree_on_pathological_events() -> None:
    events = [
        b'{"event": "a", "properties": {"x": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
        b'{"event": "a", "properties": {"x": ' + b"[" * 990 + b"]" * 990 + b"}}",
        b'{"event": "a", "timestamp": "9999-12-31T24:00:00Z"}',
        b'{"event": "a", "sent_at": "0001-01-01T00:00:00+01:00"}',
        msgspec.json.encode({"event": "a", "properties": {"x": "y" * 100_000}}),
        b'{"event": "a", "context": {"page": {"url": "https://x/?e=bob%40example.com"}}}',
        b'{"event": "dead:beef::cafe", "anonymous_id": "a"}',
        b'{"event": "\\ud800 lone", "anonymous_id": "\\udc00", "session_id": "caf\\u00e9"}',
        b'{"event": "a", "context": {"page": {"title": "\\ud83d\\ude00 \\udfff"}}}',
    ]
    run_both(Settings(), [(events, Received(received_ms=NOW))])


def test_native_and_python_agree_on_addresses_the_scrub_finds_by_their_colons() -> None:
    # An IPv6 address without digits is found by its colons alone: the native pre-check
    # counts them sixteen bytes at a time, the last sixteen overlapping those before, so
    # each address is moved across every offset of texts of up to 80 bytes, its two
    # colons falling in one chunk or in two, in new bytes or in overlapping ones.
    policy = Settings(pii=Pii(scrub_paths=["properties"]))
    texts = [
        "x" * before + address + "y" * after
        for address in (" dead::beef ", " dead:beef:cafe:babe:face:fade:bead:deaf ")
        for before in range(40)
        for after in (0, 3, 9)
    ]
    events = [msgspec.json.encode({"event": "e", "properties": {"t": t}}) for t in texts]
    run_both(policy, [(events, Received(received_ms=NOW))])


def test_native_and_python_agree_on_text_the_scrub_counts_digits_dots_and_colons_in() -> None:
    # The native pre-check counts digits, dots and colons sixteen bytes at a time, the last
    # sixteen overlapping those before: each text is moved across every offset, so that
    # what it counts falls in one chunk or in two, in new bytes or in overlapping ones.
    policy = Settings(pii=Pii(scrub_paths=["properties"]))
    texts = [
        "x" * before + text + "y" * after
        for text in (" 1.2.3.4 ", " 555 123 456 ", " 55 123 456 ", " s-004456-2 ", " a%40b.ex ")
        for before in range(40)
        for after in (0, 3, 9)
    ]
    events = [msgspec.json.encode({"event": "e", "properties": {"t": t}}) for t in texts]
    run_both(policy, [(events, Received(received_ms=NOW))])


def test_the_native_pre_check_is_the_twins_exactly_at_every_offset() -> None:
    # Counting too much would change no record, only cost a regex run: so the byte
    # scanners' counts (sixteen bytes at a time, the last sixteen overlapping those before,
    # their bytes not counted twice) are compared with the twin's pre-check itself.
    from collector import _hotpath

    for text in (" 1.2.3.4 ", " 12345678 ", " 123456789 ", " 1.2.3 ", " a:b:c ", " 9.9.9 9 "):
        for before in range(40):
            for after in (0, 3, 9, 17):
                padded = "x" * before + text + "y" * after
                expected = pii.may_hold_pii(padded)
                assert _hotpath.may_hold_pii(padded.encode()) is expected, padded
                assert _hotpath.may_hold_pii(padded) is expected, padded


@settings(max_examples=1000, deadline=None)
@given(pii_like_text())
def test_the_native_pre_check_is_the_twins_on_text_near_the_patterns(text: str) -> None:
    from collector import _hotpath

    expected = pii.may_hold_pii(text)
    assert _hotpath.may_hold_pii(text) is expected
    if text.isascii():
        assert _hotpath.may_hold_pii(text.encode()) is expected


@settings(max_examples=300, deadline=None)
@given(st.lists(pii_like_text(), min_size=1, max_size=8))
def test_native_and_python_agree_on_text_near_what_the_scrub_replaces(texts: list[str]) -> None:
    policy = Settings(pii=Pii(scrub_paths=["properties", "event"]))
    events = [
        msgspec.json.encode({"event": text, "user_id": "u", "properties": {"t": text}})
        for text in texts
    ]
    run_both(policy, [(events, Received(received_ms=NOW))])


def test_native_and_python_agree_on_text_that_json_escapes_anywhere_in_it() -> None:
    # The request's User-Agent goes into each record as written, unless a byte needs an
    # escape (then msgspec writes it): the native check looks sixteen bytes at a time, so
    # each such byte is moved across every offset of headers of up to 50 bytes (DEL, which
    # msgspec writes as it is, and a two-byte letter, which needs no escape, beside them).
    batches = [
        ([b'{"event": "e"}'], Received(received_ms=NOW, user_agent="a" * at + c + "b" * after))
        for c in ['"', "\\", "\x7f", "\x01", "\u00e9"]
        for at in range(40)
        for after in (0, 4, 9)
    ]
    run_both(Settings(), batches)


def test_a_body_found_not_to_be_json_as_its_events_are_read_leaves_no_trace() -> None:
    # One event per anonymous id, per IP and per key before the rates show, and three salts:
    # any count or salt the refused body left behind would change the records after it.
    policy = Settings(
        bots=Bots(
            flag_missing_user_agent=False, max_events_per_ip=1, max_events_per_anonymous_id=1
        ),
        hot_keys=HotKeys(max_events_per_key=1, salts=3),
    )
    # A batch a second before (another visitor and address, the same user), so that there
    # are counts and salts to keep; the refused body ten seconds after the batch that
    # follows it, in the hot keys' next window, so that the windows' clock must be put back.
    earlier = [b'{"event": "a", "anonymous_id": "x"}', b'{"event": "b", "user_id": "u"}'] * 3
    events = [event.replace(b'"x"', b'"y"') for event in earlier]
    twin = PythonPipeline(policy, SECRET, counter_ids())
    ids = RewindableIds()
    pipeline = native.Pipeline(policy, SECRET, ids)
    before = Received(received_ms=NOW - 1_000, client_ip="198.51.100.7")
    twin.process(earlier, before)
    pipeline.process(native.split_array(b"[" + b",".join(earlier) + b"]"), before)
    drawn = ids.drawn
    refused = b"[" + b",".join(events) + b', {"event": tru}]'
    split = native.split_array(refused, lambda: decode_with_msgspec(refused).events)
    assert split is not None
    with pytest.raises(BadRequest, match="not valid JSON"):
        pipeline.process(split, Received(received_ms=NOW + 10_000, client_ip="198.51.100.8"))
    ids.drawn = drawn
    received = Received(received_ms=NOW, client_ip="198.51.100.8")
    again = native.split_array(b"[" + b",".join(events) + b"]")
    assert again is not None and again.outlined
    outcome = pipeline.process(again, received)
    assert as_plain(outcome) == as_plain(twin.process(events, received))
    headers = [dict(record.headers) for record in outcome.records]
    assert {h.get("bot") for h in headers} >= {None, b"rate_ip"}
    assert {h.get("salt") for h in headers} >= {b"0", b"1", b"2"}


def test_an_event_too_large_to_read_is_still_found_not_to_be_json() -> None:
    # Refused for its size, an event split by the outline must first be JSON: if it is not,
    # the body is.
    policy = Settings(limits=Limits(max_event_bytes=60))
    large = b'{"event": "' + b"x" * 80 + b'"}'
    for last, refused in [(large, False), (large[:-1] + b', "n": tru}', True)]:
        body = b'[{"event": "a"}, ' + last + b"]"
        split = native.split_array(body, lambda body=body: decode_with_msgspec(body).events)
        assert split is not None
        if refused:
            with pytest.raises(BadRequest, match="not valid JSON"):
                native.Pipeline(policy, SECRET).process(split, Received(received_ms=NOW))
        else:
            outcome = native.Pipeline(policy, SECRET).process(split, Received(received_ms=NOW))
            assert [r.reason for r in outcome.rejected] == ["event_too_large"]


def test_native_and_python_agree_when_user_agents_share_a_cache_slot() -> None:
    # 600 user agents of one length, random where they are not the crawler's name, for the
    # cache's 256 slots: crawlers and browsers share slots whatever bytes pick the slot, and
    # each must keep its own verdict when the other took the slot.
    rng = random.Random(7)

    def letters(k: int) -> str:
        return "".join(rng.choices(string.ascii_letters, k=k))

    agents = []
    for i in range(600):
        cut = rng.randrange(32)
        agents.append(letters(cut) + ("Googlebot" if i % 2 else "Firefox/1") + letters(31 - cut))
    events = [
        msgspec.json.encode({"event": "a", "context": {"user_agent": agent}})
        for agent in [*agents, *reversed(agents)]
    ]
    run_both(Settings(), [(events, Received(received_ms=NOW))])


@pytest.mark.parametrize("dialect", ["track", "segment"])
def test_a_user_agent_with_pii_is_scrubbed_in_the_context_it_is_written_to(dialect: str) -> None:
    # The native writer scrubs the str the verdict's capture made of the user agent; the
    # record must still carry the scrubbed text, event after event (the scrub cache's hit).
    agent = "Mozilla/5.0 (X11; ann.lee@example.com) Gecko/20100101 Firefox/133.0"
    policy = Settings(pii=Pii(scrub_paths=["context"]))
    events = [
        msgspec.json.encode({"event": "e", "context": {"user_agent": agent, "n": i}})
        for i in range(3)
    ]
    run_both(policy, [(events, Received(received_ms=NOW, dialect=dialect))])
    [record, *_] = (
        native.Pipeline(policy, SECRET)
        .process([msgspec.Raw(events[0])], Received(received_ms=NOW))
        .records
    )
    assert b"ann.lee@example.com" not in record.value
    assert b"Firefox/133.0" in record.value


@pytest.mark.parametrize("scrub_paths", [["context"], []])
def test_segment_user_agents_that_alternate_within_a_batch_agree(scrub_paths: list[str]) -> None:
    # Segment's context.userAgent is written as user_agent, its rendering kept on the user
    # agent's cache entry: events alternating between browsers, with and without PII in
    # the text, and a rule dropping it, must each get their own.
    agents = [
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Mozilla/5.0 (X11; ann.lee@example.com) Gecko/20100101 Firefox/133.0",
        "curl/8.5.0",
    ]
    events = [
        msgspec.json.encode({"type": "track", "event": "e", "context": {"userAgent": agent}})
        for agent in agents * 3 + agents[::-1]
    ]
    for rules in ({}, {"context.user_agent": "drop"}):
        policy = Settings(pii=Pii(scrub_paths=scrub_paths, rules=rules))
        run_both(policy, [(events, Received(received_ms=NOW, dialect="segment"))], respell=False)


def test_library_names_that_alternate_within_a_batch_agree() -> None:
    # The native reader keeps each library name's str by its bytes, in slots chosen by the
    # length and the first and last bytes: names sharing those (a-ios, a-bos) must still
    # each get their own source.
    names = ["analytics.js", "a-ios", "a-bos", "analytics-android", "analytics-node", "", "é"]
    events = [
        msgspec.json.encode({"type": "track", "event": "e", "context": {"library": {"name": name}}})
        for name in names * 2 + names[::-1]
    ]
    run_both(Settings(), [(events, Received(received_ms=NOW, dialect="segment"))], respell=False)


@pytest.mark.parametrize("dialect", ["track", "segment"])
def test_native_and_python_agree_on_keys_that_nearly_name_a_field(dialect: str) -> None:
    # The native reader finds a top-level key's field through a table of the names' lengths
    # and first and last bytes, then compares words: keys sharing those with a field, and
    # keys too short or too long for the word compares, must still be told apart.
    keys = [
        *["evxnt", "usxr_id", "uxxxxxd", "anonymousXid", "timestamX", "contexX", "propertieX"],
        *["userXd", "messageXd", "anonymousXd", "sentXt", "tyXe", "naXe", "trXits"],
        *["a", "ab", "typ", "", "user_id_and_then_some", "anonymous_id_and_more"],
    ]
    events = [msgspec.json.encode({"event": "e", key: "v", "user_id": "u1"}) for key in keys]
    run_both(Settings(), [(events, Received(received_ms=NOW, dialect=dialect))], respell=False)


def test_native_and_python_agree_on_an_empty_key_a_rule_names() -> None:
    policy = Settings(pii=Pii(rules={"**.": "drop"}))
    events = [b'{"event": "e", "properties": {"": "x", "a": 1}, "traits": {"": 2}}']
    run_both(policy, [(events, Received(received_ms=NOW))], respell=False)


def test_native_and_python_agree_on_keys_that_are_not_ascii() -> None:
    # The key is the identity's UTF-8 (a lone surrogate never gets this far: msgspec
    # rejects the event).
    events = [
        b'{"event": "e", "anonymous_id": "z\\u00f6e"}',
        b'{"event": "e", "anonymous_id": "\\ud83c\\udf0d"}',
        '{"event": "e", "session_id": "s-\u00e9"}'.encode(),
        b'{"event": "e", "anonymous_id": "plain"}',
    ]
    run_both(Settings(), [(events, Received(received_ms=NOW))], respell=False)


@st.composite
def spelled_times(draw: st.DrawFn) -> str:
    """ISO-8601-like times, near and past every edge of the spellings read in C."""
    year = draw(st.integers(0, 9999) | st.sampled_from([1900, 2000, 2023, 2024, 2100]))
    month, day = draw(st.integers(0, 13) | st.just(2)), draw(st.integers(0, 32) | st.just(29))
    hour, minute, second = (
        draw(st.integers(0, 24)),
        draw(st.integers(0, 60)),
        draw(st.integers(0, 61)),
    )
    separator = draw(st.sampled_from(["T", "T", "T", "t", " "]))
    fraction = draw(st.one_of(st.just(""), st.text("0123456789", max_size=10).map(".{}".format)))
    suffix = draw(st.sampled_from(["Z", "Z", "+00:00", "", "+01:00", "-00:00", "z", "+0000", "ZZ"]))
    return (
        f"{year:04d}-{month:02d}-{day:02d}{separator}{hour:02d}:{minute:02d}:{second:02d}"
        f"{fraction}{suffix}"
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(spelled_times(), st.one_of(st.none(), spelled_times())), max_size=8))
def test_native_and_python_agree_on_spelled_times(times: list[tuple[str, str | None]]) -> None:
    events = [
        msgspec.json.encode({"event": "e", "timestamp": ts, "sent_at": sent}) for ts, sent in times
    ]
    run_both(Settings(), [(events, Received(received_ms=NOW))], respell=False)


def test_native_records_are_a_sequence_like_the_twins_list() -> None:
    policy = Settings(hot_keys=HotKeys(max_events_per_key=1, salts=4))
    # Two values past the 12 KB a small batch starts with: the buffer grows under the spans.
    long = "x" * 8000
    batch = [
        b'{"event":"a","user_id":"u-1","properties":{"long":"%s"}}' % long.encode(),
        b'{"event":"b","user_id":"u-1"}',  # salted: the key's second event in its window
        b'{"type":"track"}',  # rejected: no event name, so a dead letter
        b'{"event":"c","properties":{"long":"%s"}}' % long.encode(),  # no key
    ]
    received = Received(received_ms=NOW)
    expected = PythonPipeline(policy, SECRET, counter_ids()).process(batch, received).records
    records = native.Pipeline(policy, SECRET, counter_ids()).process(batch, received).records
    assert len(records) == 4
    assert list(records) == expected
    assert [records[i] for i in range(-4, 0)] == expected
    assert records[1].key is not None and records[1].key.endswith(b"#0")
    assert (records[2].key, records[3].key) == (None, None)
    for index in (4, -5):
        with pytest.raises(IndexError):
            records[index]


def test_native_takes_any_iterable_of_events_as_the_twin_does() -> None:
    events = [b'{"event": "a"}', b'{"event": "b", "user_id": "u"}', b"[]"]
    received = Received(received_ms=NOW)
    expected = as_plain(
        PythonPipeline(Settings(), SECRET, counter_ids()).process(iter(events), received)
    )
    fast = native.Pipeline(Settings(), SECRET, counter_ids())
    assert as_plain(fast.process(iter(events), received)) == expected
    assert as_plain(fast.process((e for e in []), received))[1] == []


def test_a_fresh_process_writes_a_time_before_1970_first() -> None:
    # The times' cache starts empty in each process: its empty mark must be no second a
    # time can have (-1 once was, and the first time written, 1969-12-31T23:59:59.995,
    # came out as zero bytes).
    check = (
        "from tests.unit.test_hotpath_parity import run_both, NOW;"
        "from collector.config import Settings;"
        "from collector.normalize import Received;"
        'run_both(Settings(), [([b\'{"event": "e", "timestamp": -5}\'],'
        " Received(received_ms=NOW))], respell=False)"
    )
    subprocess.run([sys.executable, "-c", check], check=True, cwd=ROOT)


@pytest.mark.parametrize("action", ["mask", "drop", "tokenize"])
def test_the_verdict_counts_anonymous_ids_as_sent_whatever_the_rules_make_of_them(
    action: str,
) -> None:
    policy = Settings(
        bots=Bots(max_events_per_anonymous_id=1),
        pii=Pii(rules={"anonymous_id": action}),
    )
    events = [
        b'{"event": "e", "anonymous_id": "a-1"}',
        b'{"event": "e", "anonymous_id": "a-2"}',
        b'{"event": "e", "anonymous_id": "a-2"}',
    ]
    run_both(policy, [(events, Received(received_ms=NOW, user_agent=AGENTS[0]))], respell=False)


@pytest.mark.parametrize("rules", [None, {}])
def test_plain_and_decoded_events_count_an_id_alike_in_the_rate_windows(
    rules: dict[str, Any] | None,
) -> None:
    # A plain event's ids are counted from its bytes, a decoded one's from their str; the
    # escape in the second of each pair sends it to the decoded path. Counted apart, the
    # second would pass where the twin flags it and salts its key. Without rules the user
    # id itself is the key, not its token.
    policy = Settings(
        bots=Bots(max_events_per_anonymous_id=1),
        hot_keys=HotKeys(max_events_per_key=1),
        pii=Pii() if rules is None else Pii(rules=rules),
    )
    decoded = ', "properties": {"x": "\\u00e9"}}'
    events = []
    for ids in [
        '"anonymous_id": "Zo\u00eb \U0001f642"',
        '"anonymous_id": "ann"',
        '"session_id": "s-\u00e9"',
        '"user_id": "\u00e9-1"',
    ]:
        plain = f'{{"event": "e", {ids}}}'
        events += [plain.encode(), (plain[:-1] + decoded).encode()]
    run_both(policy, [(events, Received(received_ms=NOW, user_agent=AGENTS[0]))], respell=False)


@pytest.mark.parametrize("dialect", ["track", "segment"])
def test_native_and_python_agree_on_top_level_strings_past_the_length_limit(
    dialect: str,
) -> None:
    # Counted in characters, not bytes: four two-byte characters are within a limit of 4.
    # Respelled for Segment, `event` becomes its `name`.
    policy = Settings(limits=Limits(max_string_length=4))
    events = [
        msgspec.json.encode({"event": "e", field: value} if field != "event" else {field: value})
        for field in [
            "event",
            "event_id",
            "user_id",
            "anonymous_id",
            "session_id",
            "group_id",
            "previous_id",
        ]
        for value in ["abcd", "abcde", "\u00e9\u00e9\u00e9\u00e9", "\u00e9\u00e9\u00e9\u00e9\u00e9"]
    ]
    run_both(policy, [(events, Received(received_ms=NOW, dialect=dialect))])


@pytest.mark.parametrize(
    ("dialect", "respell"), [("track", False), ("segment", False), ("segment", True)]
)
def test_native_and_python_agree_on_a_user_agent_past_the_length_limit(
    dialect: str, respell: bool
) -> None:
    # The byte path reads context.user_agent once, for the verdict, and writes it from what
    # that read found; the limit (which its key, 10 characters, just meets) must still hold,
    # whether a Segment client spells it user_agent or userAgent (respelled).
    policy = Settings(limits=Limits(max_string_length=10))
    events = [
        msgspec.json.encode({"event": "e", "context": {"user_agent": agent, "n": 1}})
        for agent in ["Mozilla/50", "Mozilla/5.0", "\u00e9" * 10, "\u00e9" * 11]
    ]
    run_both(policy, [(events, Received(received_ms=NOW, dialect=dialect))], respell=respell)


def test_native_and_python_agree_on_rules_for_keys_that_are_not_ascii() -> None:
    # The byte path finds a rule's key among an object's keys by its UTF-8.
    policy = Settings(pii=Pii(rules={"**.\u00e9mail": "tokenize", "**.caf\u00e9": "drop"}))
    events = [
        msgspec.json.encode(
            {"event": "e", "properties": {"\u00e9mail": "a@b.co", "caf\u00e9": 1, "cafe": 2}}
        ),
        msgspec.json.encode(
            {"event": "e", "context": {"\u00e9mail": "x"}, "traits": {"caf\u00e9": [1]}}
        ),
    ]
    run_both(policy, [(events, Received(received_ms=NOW))], respell=False)
