from typing import Any

import msgspec
import pytest

from collector.config import Limits
from collector.envelope import Activity, Source
from collector.normalize import Received, Rejected, normalize, source_of

# 2026-11-26T14:25:07.123Z
NOW = 1_795_703_107_123
NOW_TEXT = "2026-11-26T14:25:07.123Z"


def run(event: Any, received: Received | None = None, limits: Limits | None = None) -> Activity:
    return normalize(
        msgspec.json.encode(event),
        received if received is not None else Received(received_ms=NOW),
        limits if limits is not None else Limits(),
        new_id=lambda: "id-1",
    )


def rejection(event: Any, limits: Limits | None = None) -> Rejected:
    with pytest.raises(Rejected) as caught:
        run(event, limits=limits)
    return caught.value


def test_normalize_keeps_the_client_event_id() -> None:
    assert run({"event": "a", "event_id": "client-7"}).event_id == "client-7"


def test_normalize_makes_an_event_id_when_there_is_none() -> None:
    assert run({"event": "a"}).event_id == "id-1"
    assert run({"event": "a", "event_id": None}).event_id == "id-1"
    assert run({"event": "a", "event_id": ""}).event_id == "id-1"


def test_normalize_type_defaults_to_track() -> None:
    activity = run({"event": "Signed Up"})
    assert activity.type == "track"
    assert activity.event == "Signed Up"
    assert activity.kind == "activity"


@pytest.mark.parametrize("kind", ["page", "screen", "identify", "group", "alias"])
def test_normalize_other_types_need_no_event_name(kind: str) -> None:
    activity = run({"type": kind, "user_id": "u"})
    assert activity.type == kind
    assert activity.event is None


@pytest.mark.parametrize("event", [{}, {"event": None}, {"event": ""}, {"type": "track"}])
def test_normalize_rejects_track_without_event(event: dict[str, Any]) -> None:
    assert rejection(event).reason == "missing_event"


@pytest.mark.parametrize(
    "event",
    [
        {"event": "a", "user_id": True},
        {"event": "a", "anonymous_id": 1.5},
        {"event": "a", "session_id": ["s"]},
        {"event": "a", "properties": ["x"]},
        {"event": "a", "properties": "x"},
        {"event": "a", "context": 3},
        {"event": "a", "type": "foo"},
        {"event": 7},
        {"event": "a", "event_id": 1},
        {"event": "a", "timestamp": True},
        {"event": "a", "sent_at": {"ms": 1}},
    ],
)
def test_normalize_rejects_fields_of_the_wrong_type(event: dict[str, Any]) -> None:
    assert rejection(event).reason == "invalid_field"


@pytest.mark.parametrize("raw", [[1], "x", 3, None])
def test_normalize_rejects_an_event_that_is_not_an_object(raw: Any) -> None:
    assert rejection(raw).reason == "invalid_field"


def test_normalize_rejects_malformed_json() -> None:
    with pytest.raises(Rejected) as caught:
        normalize(b'{"event": ', Received(received_ms=NOW), Limits(), new_id=lambda: "id-1")
    assert caught.value.reason == "invalid_json"


@pytest.mark.parametrize(
    "event",
    [
        {"event": "a", "timestamp": "garbage"},
        {"event": "a", "timestamp": "2026-13-01T00:00:00Z"},
        {"event": "a", "timestamp": 10**30},
        {"event": "a", "timestamp": -(10**17)},
        {"event": "a", "sent_at": "yesterday"},
        {"event": "a", "sent_at": 10**16},
    ],
)
def test_normalize_rejects_invalid_timestamps(event: dict[str, Any]) -> None:
    assert rejection(event).reason == "invalid_timestamp"


def test_normalize_rejects_a_timestamp_whose_offset_leaves_the_calendar() -> None:
    assert rejection({"event": "a", "timestamp": "0001-01-01T00:00:00+01:00"}).reason == (
        "invalid_timestamp"
    )


def test_normalize_rejects_an_event_over_max_event_bytes() -> None:
    limits = Limits(max_event_bytes=100)
    event = {"event": "a", "properties": {"p": "x" * 100}}
    found = rejection(event, limits)
    assert found.reason == "event_too_large"
    assert "the limit is 100" in found.detail


def test_normalize_accepts_an_event_of_exactly_max_event_bytes() -> None:
    raw = msgspec.json.encode({"event": "a"})
    limits = Limits(max_event_bytes=len(raw))
    activity = normalize(raw, Received(received_ms=NOW), limits, new_id=lambda: "id-1")
    assert activity.event == "a"


def test_normalize_counts_event_size_in_bytes_not_characters() -> None:
    raw = msgspec.json.encode({"event": "🙂" * 10})
    assert len(raw) > 40
    with pytest.raises(Rejected) as caught:
        normalize(raw, Received(received_ms=NOW), Limits(max_event_bytes=40), lambda: "id-1")
    assert caught.value.reason == "event_too_large"


@pytest.mark.parametrize("field", ["event", "event_id", "user_id", "anonymous_id", "session_id"])
def test_normalize_rejects_long_top_level_strings(field: str) -> None:
    limits = Limits(max_string_length=10)
    found = rejection({"event": "a", field: "x" * 11}, limits)
    assert found.reason == "string_too_long"
    assert found.detail == f"{field} has 11 characters"


@pytest.mark.parametrize("field", ["event", "event_id", "user_id", "anonymous_id", "session_id"])
def test_normalize_accepts_top_level_strings_of_exactly_the_limit(field: str) -> None:
    limits = Limits(max_string_length=10)
    activity = run({"event": "a", field: "x" * 10}, limits=limits)
    assert getattr(activity, field) == "x" * 10


@pytest.mark.parametrize(
    ("event", "detail"),
    [
        ({"properties": {"p": "x" * 11}}, "properties.p has 11 characters"),
        ({"properties": {"a": {"b": ["ok", "x" * 11]}}}, "properties.a.b[1] has 11 characters"),
        ({"context": {"page": {"url": "x" * 11}}}, "context.page.url has 11 characters"),
        ({"properties": {"k" * 11: 1}}, "a key in properties is too long"),
        ({"context": {"traits": {"k" * 11: 1}}}, "a key in context.traits is too long"),
        ({"properties": {"l": [{"k" * 11: 1}]}}, "a key in properties.l[0] is too long"),
    ],
)
def test_normalize_rejects_long_strings_and_keys_anywhere(
    event: dict[str, Any], detail: str
) -> None:
    found = rejection({"event": "a", **event}, Limits(max_string_length=10))
    assert found.reason == "string_too_long"
    assert found.detail == detail


def test_normalize_counts_string_length_in_characters() -> None:
    limits = Limits(max_string_length=3)
    activity = run({"event": "🙂🙂🙂", "properties": {"é": "ééé"}}, limits=limits)
    assert activity.event == "🙂🙂🙂"


def test_normalize_rejects_too_many_properties() -> None:
    limits = Limits(max_properties=3)
    found = rejection({"event": "a", "properties": {str(i): i for i in range(4)}}, limits)
    assert found.reason == "too_many_properties"
    assert found.detail == "properties has 4 keys; the limit is 3"


def test_normalize_rejects_too_many_context_keys() -> None:
    limits = Limits(max_properties=3)
    found = rejection({"event": "a", "context": {str(i): i for i in range(4)}}, limits)
    assert found.reason == "too_many_properties"
    assert found.detail == "context has 4 keys; the limit is 3"


def test_normalize_accepts_exactly_max_properties() -> None:
    limits = Limits(max_properties=3)
    activity = run({"event": "a", "properties": {str(i): i for i in range(3)}}, limits=limits)
    assert activity.properties == {"0": 0, "1": 1, "2": 2}


def test_normalize_max_properties_counts_only_top_level_keys() -> None:
    limits = Limits(max_properties=1)
    nested = {"only": {str(i): i for i in range(50)}}
    assert run({"event": "a", "properties": nested}, limits=limits).properties == nested


def test_normalize_rejects_nesting_deeper_than_max_depth() -> None:
    limits = Limits(max_depth=2)
    found = rejection({"event": "a", "properties": {"a": {"b": {}}}}, limits)
    assert found.reason == "too_deep"
    assert found.detail == "properties.a.b nests deeper than 2 levels"


def test_normalize_rejects_deep_lists_in_context() -> None:
    limits = Limits(max_depth=2)
    found = rejection({"event": "a", "context": {"a": [[1]]}}, limits)
    assert found.reason == "too_deep"
    assert found.detail == "context.a[0] nests deeper than 2 levels"


def test_normalize_accepts_nesting_of_exactly_max_depth() -> None:
    limits = Limits(max_depth=3)
    properties = {"a": {"b": [1, 2]}}
    assert run({"event": "a", "properties": properties}, limits=limits).properties == properties


def test_normalize_rejects_very_deep_nesting_with_the_default_limits() -> None:
    deep: dict[str, Any] = {}
    for _ in range(50):
        deep = {"d": deep}
    assert rejection({"event": "a", "properties": deep}).reason == "too_deep"


def test_normalize_keeps_unicode_and_emoji() -> None:
    event = {
        "event": "Zoë ordered 🍕",
        "user_id": "ユーザー",
        "properties": {"ключ": "значение", "emoji": "👩‍👩‍👧‍👦", "nul": "a\u0000b"},
        "context": {"locale": "ja-JP", "名前": "🙂"},
    }
    activity = run(event)
    assert activity.event == "Zoë ordered 🍕"
    assert activity.user_id == "ユーザー"
    assert activity.properties == event["properties"]
    assert activity.context == event["context"]


def test_normalize_keeps_huge_integers_exactly() -> None:
    properties = {"big": 123456789012345678901234567890, "neg": -(2**80), "u64": 2**64 - 1}
    activity = run({"event": "a", "properties": properties})
    assert activity.properties == properties
    assert type(activity.properties["big"]) is int


def test_normalize_keeps_floats_bools_and_nulls_in_properties() -> None:
    properties = {"f": 1.5, "t": True, "n": None, "l": [False, 0, 0.0, ""]}
    assert run({"event": "a", "properties": properties}).properties == properties


@pytest.mark.parametrize("field", ["context", "properties"])
def test_normalize_turns_null_context_and_properties_into_empty_objects(field: str) -> None:
    activity = run({"event": "a", field: None})
    assert getattr(activity, field) == {}


def test_normalize_missing_context_and_properties_are_empty_objects() -> None:
    activity = run({"event": "a"})
    assert activity.context == {}
    assert activity.properties == {}


@pytest.mark.parametrize("field", ["user_id", "anonymous_id", "session_id"])
def test_normalize_turns_integer_identities_into_strings(field: str) -> None:
    assert getattr(run({"event": "a", field: 42}), field) == "42"
    assert getattr(run({"event": "a", field: 0}), field) == "0"
    assert getattr(run({"event": "a", field: -7}), field) == "-7"
    assert getattr(run({"event": "a", field: 2**70}), field) == str(2**70)


@pytest.mark.parametrize("field", ["user_id", "anonymous_id", "session_id"])
def test_normalize_turns_empty_identities_into_none(field: str) -> None:
    assert getattr(run({"event": "a", field: ""}), field) is None
    assert getattr(run({"event": "a", field: None}), field) is None
    assert getattr(run({"event": "a"}), field) is None


def test_normalize_uses_the_batch_sent_at() -> None:
    received = Received(received_ms=NOW, sent_ms=NOW - 60_000)
    activity = run({"event": "a", "timestamp": NOW - 61_000}, received)
    assert activity.sent_at == "2026-11-26T14:24:07.123Z"
    assert activity.skew_ms == 60_000
    assert activity.client_ts == "2026-11-26T14:24:06.123Z"
    assert activity.ts == "2026-11-26T14:25:06.123Z"


def test_normalize_event_sent_at_overrides_the_batch_sent_at() -> None:
    received = Received(received_ms=NOW, sent_ms=NOW - 60_000)
    event = {"event": "a", "timestamp": NOW - 10_500, "sent_at": "2026-11-26T14:24:57.123Z"}
    activity = run(event, received)
    assert activity.sent_at == "2026-11-26T14:24:57.123Z"
    assert activity.skew_ms == 10_000
    assert activity.ts == "2026-11-26T14:25:06.623Z"


def test_normalize_computes_skew_and_ts_from_iso_times() -> None:
    # The client's clock is one hour behind; the event happened two seconds before sending.
    event = {
        "event": "a",
        "timestamp": "2026-11-26T13:25:05.123Z",
        "sent_at": "2026-11-26T13:25:07.123Z",
    }
    activity = run(event)
    assert activity.skew_ms == 3_600_000
    assert activity.client_ts == "2026-11-26T13:25:05.123Z"
    assert activity.ts == "2026-11-26T14:25:05.123Z"
    assert activity.received_at == NOW_TEXT


def test_normalize_computes_a_negative_skew_for_a_clock_ahead() -> None:
    event = {"event": "a", "timestamp": NOW + 3_600_000 - 1_000, "sent_at": NOW + 3_600_000}
    activity = run(event)
    assert activity.skew_ms == -3_600_000
    assert activity.ts == "2026-11-26T14:25:06.123Z"


def test_normalize_without_sent_at_keeps_the_client_time_and_no_skew() -> None:
    activity = run({"event": "a", "timestamp": "2026-11-26T14:00:00+01:00"})
    assert activity.sent_at is None
    assert activity.skew_ms is None
    assert activity.client_ts == "2026-11-26T13:00:00.000Z"
    assert activity.ts == "2026-11-26T13:00:00.000Z"


def test_normalize_without_timestamps_uses_the_receive_time() -> None:
    activity = run({"event": "a"})
    assert activity.client_ts is None
    assert activity.sent_at is None
    assert activity.skew_ms is None
    assert activity.ts == NOW_TEXT
    assert activity.received_at == NOW_TEXT


def test_normalize_clamps_a_future_timestamp_to_the_receive_time() -> None:
    activity = run({"event": "a", "timestamp": NOW + 3_600_000})
    assert activity.client_ts == "2026-11-26T15:25:07.123Z"
    assert activity.ts == NOW_TEXT


def test_normalize_clamps_a_timestamp_before_2000() -> None:
    activity = run({"event": "a", "timestamp": "1970-01-01T00:00:00Z"})
    assert activity.client_ts == "1970-01-01T00:00:00.000Z"
    assert activity.ts == NOW_TEXT


def test_normalize_adds_the_client_ip_to_the_context() -> None:
    received = Received(received_ms=NOW, client_ip="203.0.113.9")
    assert run({"event": "a"}, received).context == {"ip": "203.0.113.9"}


def test_normalize_keeps_the_ip_the_client_sent() -> None:
    received = Received(received_ms=NOW, client_ip="203.0.113.9")
    activity = run({"event": "a", "context": {"ip": "198.51.100.1"}}, received)
    assert activity.context == {"ip": "198.51.100.1"}


def test_normalize_keeps_an_explicit_null_ip_the_client_sent() -> None:
    received = Received(received_ms=NOW, client_ip="203.0.113.9")
    assert run({"event": "a", "context": {"ip": None}}, received).context == {"ip": None}


def test_normalize_adds_no_ip_when_there_is_none() -> None:
    assert "ip" not in run({"event": "a"}).context


def test_normalize_copies_the_user_agent_header_for_web_events() -> None:
    received = Received(received_ms=NOW, user_agent="Mozilla/5.0")
    activity = run({"event": "a"}, received)
    assert activity.source == "web"
    assert activity.context == {"user_agent": "Mozilla/5.0"}


def test_normalize_keeps_the_user_agent_the_client_sent() -> None:
    received = Received(received_ms=NOW, user_agent="Mozilla/5.0")
    activity = run({"event": "a", "context": {"user_agent": "Client/1"}}, received)
    assert activity.context == {"user_agent": "Client/1"}


@pytest.mark.parametrize("library", ["analytics-ios", "analytics-python"])
def test_normalize_does_not_copy_the_user_agent_for_apps_and_servers(library: str) -> None:
    received = Received(received_ms=NOW, user_agent="okhttp/4.12")
    activity = run({"event": "a", "context": {"library": {"name": library}}}, received)
    assert activity.source != "web"
    assert "user_agent" not in activity.context


def test_normalize_does_not_copy_the_user_agent_when_the_write_key_says_server() -> None:
    received = Received(received_ms=NOW, user_agent="curl/8", source="server")
    activity = run({"event": "a"}, received)
    assert activity.source == "server"
    assert "user_agent" not in activity.context


def test_normalize_copies_the_user_agent_when_the_write_key_says_web() -> None:
    received = Received(received_ms=NOW, user_agent="Mozilla/5.0", source="web")
    activity = run({"event": "a", "context": {"library": {"name": "analytics-ios"}}}, received)
    assert activity.source == "web"
    assert activity.context["user_agent"] == "Mozilla/5.0"


def test_normalize_adds_ip_and_user_agent_together_without_touching_other_context() -> None:
    received = Received(received_ms=NOW, client_ip="192.0.2.1", user_agent="Mozilla/5.0")
    activity = run({"event": "a", "context": {"locale": "en"}}, received)
    assert activity.context == {"locale": "en", "ip": "192.0.2.1", "user_agent": "Mozilla/5.0"}


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("analytics-ios", "mobile"),
        ("analytics-android", "mobile"),
        ("analytics-react-native", "mobile"),
        ("@segment/analytics-react-native", "mobile"),
        ("react-native", "mobile"),
        ("analytics-flutter", "mobile"),
        ("Analytics-iOS", "mobile"),
        ("analytics-python", "server"),
        ("analytics-node", "server"),
        ("rudder-sdk-node", "server"),
        ("analytics-go", "server"),
        ("analytics.js", "web"),
        ("analytics-next", "web"),
        ("", "web"),
    ],
)
def test_source_of_reads_the_library_name(name: str, source: str) -> None:
    assert source_of({"library": {"name": name}}) == source


@pytest.mark.parametrize(
    "context",
    [
        {},
        {"library": None},
        {"library": "analytics-ios"},
        {"library": {}},
        {"library": {"name": None}},
        {"library": {"name": 7}},
        {"library": {"version": "1.0"}},
        {"library": ["analytics-ios"]},
    ],
)
def test_source_of_defaults_to_web(context: dict[str, Any]) -> None:
    assert source_of(context) == "web"


@pytest.mark.parametrize(
    ("library", "source"),
    [("analytics-ios", "mobile"), ("analytics-node", "server"), ("analytics.js", "web")],
)
def test_normalize_sets_the_source_from_the_library(library: str, source: str) -> None:
    assert run({"event": "a", "context": {"library": {"name": library}}}).source == source


@pytest.mark.parametrize("source", ["web", "mobile", "server"])
def test_normalize_received_source_overrides_the_library(source: Source) -> None:
    received = Received(received_ms=NOW, source=source)
    activity = run({"event": "a", "context": {"library": {"name": "analytics-android"}}}, received)
    assert activity.source == source


def test_normalize_ignores_unknown_top_level_fields() -> None:
    activity = run({"event": "a", "messageId": "m", "extra": {"deep": [1]}})
    assert activity.event == "a"
    assert activity.properties == {}


def test_normalize_builds_the_whole_envelope() -> None:
    received = Received(received_ms=NOW, sent_ms=NOW - 1_000, client_ip="192.0.2.1")
    event = {
        "type": "screen",
        "event_id": "e-1",
        "user_id": 5,
        "anonymous_id": "anon",
        "timestamp": NOW - 1_500,
        "context": {"library": {"name": "analytics-android"}},
        "properties": {"name": "Home"},
    }
    assert run(event, received) == Activity(
        event_id="e-1",
        type="screen",
        event=None,
        source="mobile",
        received_at=NOW_TEXT,
        sent_at="2026-11-26T14:25:06.123Z",
        client_ts="2026-11-26T14:25:05.623Z",
        ts="2026-11-26T14:25:06.623Z",
        skew_ms=1_000,
        user_id="5",
        anonymous_id="anon",
        session_id=None,
        context={"library": {"name": "analytics-android"}, "ip": "192.0.2.1"},
        properties={"name": "Home"},
    )


def test_normalize_rejected_carries_reason_and_detail() -> None:
    found = Rejected("too_deep", "properties.a nests deeper than 1 levels")
    assert found.reason == "too_deep"
    assert found.detail == "properties.a nests deeper than 1 levels"
    assert str(found) == "too_deep: properties.a nests deeper than 1 levels"
