import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector import native
from collector.decoding import Batch, decode_batch, decode_with_msgspec
from collector.envelope import SegmentBatch, TrackBatch
from collector.errors import BadRequest, InvalidJSON, InvalidShape

needs_native = pytest.mark.skipif(
    native.IMPLEMENTATION != "native", reason="the native extension is not built"
)

if native.IMPLEMENTATION == "native":
    from collector import _hotpath

    OUTLINE_SCANS = _hotpath.outline_scans()
else:
    OUTLINE_SCANS = ("baseline",)


@pytest.fixture(params=OUTLINE_SCANS)
def outline_scan(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each way this CPU can find a body's outline, in turn: the first is what the collector
    runs here, the others what it runs on other CPUs. (The same for every example a
    hypothesis test draws, hence the health check it suppresses. Only tests that need the
    native extension use it.)"""
    _hotpath.use_outline_scan(request.param)
    try:
        yield request.param
    finally:
        _hotpath.use_outline_scan(OUTLINE_SCANS[0])


def raw_events(body: bytes) -> list[bytes]:
    return [bytes(event) for event in decode_batch(body).events]


def test_decode_batch_splits_an_array_into_raw_events() -> None:
    assert raw_events(b'[{"event": "a"}, {"event": "b", "n": 1}]') == [
        b'{"event": "a"}',
        b'{"event": "b", "n": 1}',
    ]
    assert decode_batch(b"[]").sent_ms is None


def test_decode_batch_takes_the_batch_object_and_its_sent_at() -> None:
    batch = decode_batch(b'{"batch": [{"event": "a"}], "sent_at": "2026-01-01T00:00:00.250Z"}')
    assert [bytes(e) for e in batch.events] == [b'{"event": "a"}']
    assert batch.sent_ms == 1_767_225_600_250


def test_decode_batch_accepts_epoch_millisecond_sent_at_and_ignores_other_fields() -> None:
    batch = decode_batch(b'{"batch": [], "sent_at": 1767225600250, "context": {}}')
    assert batch.sent_ms == 1_767_225_600_250
    assert list(batch.events) == []


def test_decode_batch_leaves_each_event_undecoded() -> None:
    # Wrong events are the pipeline's to reject one by one, not a reason to refuse the batch.
    assert raw_events(b'[{"event": "a"}, 3, null, "x"]') == [
        b'{"event": "a"}',
        b"3",
        b"null",
        b'"x"',
    ]


def test_decode_batch_keeps_unicode_and_big_numbers_byte_for_byte() -> None:
    event = '{"event": "héllo 🌍", "n": 123456789012345678901234567890}'.encode()
    assert raw_events(b"[" + event + b"]") == [event]


@pytest.mark.parametrize(
    "body",
    [
        b"nope",
        b"[{",
        b'{"batch": [}',
        b"\xff\xfe",
        b"[1,]",
        b'[{"a": 1}] trailing',
        # msgspec reports invalid UTF-8 inside a string as UnicodeDecodeError.
        b'{"batch": [], "sent_at": "\xff"}',
    ],
)
def test_decode_batch_rejects_malformed_json(body: bytes) -> None:
    with pytest.raises(InvalidJSON, match="not valid JSON"):
        decode_batch(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b"  \n", "empty body"),
        (b"null", "expected a JSON array"),
        (b"42", "expected a JSON array"),
        (b'"x"', "expected a JSON array"),
        (b'{"events": []}', "missing required field `batch`"),
        (b'{"batch": {"event": "a"}}', r"at `\$.batch`"),
        (b'{"batch": null}', r"at `\$.batch`"),
        (b'{"batch": [], "sent_at": true}', r"at `\$.sent_at`"),
        (b'{"batch": [], "sent_at": "yesterday"}', "sent_at: not an ISO-8601 timestamp"),
    ],
)
def test_decode_batch_names_the_wrong_shape(body: bytes, message: str) -> None:
    with pytest.raises(InvalidShape, match=message):
        decode_batch(body)


def test_decode_errors_are_bad_requests_and_value_errors() -> None:
    with pytest.raises(BadRequest) as caught:
        decode_batch(b"{")
    assert caught.value.status == 400
    assert isinstance(caught.value, ValueError)
    assert caught.value.body()["error"] == "invalid_json"


def test_a_body_nesting_past_msgspecs_recursion_is_a_bad_request_not_a_crash() -> None:
    body = b"[" + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"]"
    with pytest.raises(InvalidJSON, match="nests too deeply"):
        decode_batch(body)


# The native splitter (collector.native.split_array) against msgspec, its specification: it
# may leave any body to msgspec, and what it splits, once its events are read strictly,
# msgspec must split the same way, or refuse with the error the reading then raises.

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=24,
)


@st.composite
def array_bodies(draw: st.DrawFn) -> bytes:
    items = draw(st.lists(json_values, max_size=6))
    # Escaped or not (ensure_ascii escapes astral characters as surrogate pairs), spaced or
    # not.
    return json.dumps(
        items,
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.sampled_from([None, 0, 2, "\t"])),
        separators=draw(st.sampled_from([None, (",", ":"), (" , ", " : ")])),
    ).encode()


@st.composite
def damaged(draw: st.DrawFn, body: bytes) -> bytes:
    # Half the time next to a bracket, comma, colon or quote, where the grammar is.
    structure = b'{}[],:"'
    marks = [i for i, byte in enumerate(body) if byte in structure]
    if marks and draw(st.booleans()):
        at = draw(st.sampled_from(marks)) + draw(st.sampled_from([0, 1]))
        byte = draw(st.sampled_from(list(structure)))
    else:
        at = draw(st.integers(min_value=0, max_value=len(body)))
        byte = draw(st.sampled_from(list(b'{}[]",:\\ 0-.eE+ut\x00\x1f\x7f\xff\xc3')))
    how = draw(st.sampled_from(["cut", "insert", "drop", "replace"]))
    if how == "cut":
        return body[:at]
    if how == "insert":
        return body[:at] + bytes([byte]) + body[at:]
    if how == "drop":
        return body[:at] + body[at + 1 :]
    return body[:at] + bytes([byte]) + body[at + 1 :]


def msgspec_split(body: bytes) -> list[bytes] | None:
    try:
        return [bytes(event) for event in decode_with_msgspec(body).events]
    except BadRequest:
        return None


def read_strictly(events: Sequence[bytes]) -> list[bytes] | None:
    """The events of a native split, each read strictly as they are on first access (the
    pipeline reads them so as it goes); None when one is not JSON and the body's recheck
    (msgspec) refuses it."""
    try:
        return [bytes(event) for event in events]
    except BadRequest:
        return None


def native_split(body: bytes) -> Sequence[bytes] | None:
    return native.split_array(body, lambda: decode_with_msgspec(body).events)


@needs_native
@pytest.mark.usefixtures("outline_scan")
@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=array_bodies())
def test_the_native_splitter_splits_every_plain_array_as_msgspec_does(body: bytes) -> None:
    # Escaped astral characters included: json.dumps writes them as surrogate pairs.
    split = native.split_array(body)
    assert split is not None
    assert [bytes(e) for e in split] == msgspec_split(body)
    assert type(decode_batch(body).events) is type(split)


@needs_native
@pytest.mark.usefixtures("outline_scan")
@settings(
    max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), body=array_bodies())
def test_the_native_splitter_never_splits_what_msgspec_refuses(
    data: st.DataObject, body: bytes
) -> None:
    # The outline may split a body whose events are not all JSON: reading them finds out,
    # and msgspec's error is then the answer.
    body = data.draw(damaged(body))
    split = native_split(body)
    if split is not None:
        assert read_strictly(split) == msgspec_split(body)


@needs_native
@pytest.mark.usefixtures("outline_scan")
@pytest.mark.parametrize(
    "body",
    [
        b'[{"a": "\\ud800"}]',
        b'[{"a": "\\ud800x"}]',
        b'[{"a": "\\ud800\\u0041"}]',
        b'[{"a": "\\ud800\\ud800"}]',
        b'[{"a": "\\udc00"}]',
        b'[{"a": "\\udc00\\ud800"}]',
        b'[{"a": "\\ud800\\udc0"}]',
        b"[" + b"[" * 257 + b"]" * 257 + b"]",
        b'{"batch": [{"event": "a"}]}',
        b"[1 2]",
        b"[1,]",
        b"[[1,]]",
        b'[{"a": 1,}]',
        b'[{"a": 1 "b": 2}]',
        b'[{"a" 1}]',
        b'[{"a": 1]',
        b"[tru]",
        b'[{"a": 01}]',
        b'[{"a": "\x1f"}]',
        b"[]]",
    ],
)
def test_the_native_splitter_leaves_to_msgspec_what_it_is_not_sure_of(body: bytes) -> None:
    # At once (not an array, no outline, nesting too deep), or once its events are read.
    split = native_split(body)
    assert split is None or read_strictly(split) is None


@needs_native
@pytest.mark.usefixtures("outline_scan")
def test_the_outline_finds_strings_across_its_64_byte_blocks() -> None:
    # Escaped quotes, runs of backslashes and brackets and commas inside strings, moved
    # across every offset of the outline's blocks (a backslash as a block's last byte
    # escapes the next block's first).
    inner = r"\\\"],{x\" , \\\\ , [\""  # in the string: \"],{x" , \\ , ["
    for pad in range(130):
        event = '{"a": "' + "x" * pad + inner + '", "b": [1, {"c": "]"}]}'
        body = ("[" + event + " ,\n" + event + "]").encode()
        assert json.loads(body)[0]["a"].endswith('\\"],{x" , \\\\ , ["')
        split = native_split(body)
        assert split is not None and split.outlined
        assert read_strictly(split) == msgspec_split(body) == [event.encode()] * 2


@needs_native
def test_a_batch_object_whose_events_are_not_json_is_invalid_json_whatever_its_sent_time() -> None:
    from collector.sources.segment import decode_segment_batch

    for decode, body in [
        (decode_batch, b'{"batch": [{"event": tru}], "sent_at": "yesterday"}'),
        (decode_segment_batch, b'{"sentAt": "yesterday", "batch": [{"event": tru}]}'),
    ]:
        with pytest.raises(InvalidJSON, match="not valid JSON"):
            decode(body)


@needs_native
def test_events_split_by_their_outline_are_read_strictly_once() -> None:
    # A body whose second event is not JSON splits by its outline; reading the events
    # finds that out, and without a recheck that is an error of its own.
    body = b'[{"event": "a"}, {"event": tru}]'
    split = native.split_array(body)
    assert split is not None and len(split) == 2
    with pytest.raises(ValueError, match="not all JSON"):
        split[0]
    with pytest.raises(InvalidJSON, match="not valid JSON"):
        list(decode_batch(body).events)
    good = native_split(b'[{"event": "a"}, 2]')
    assert good is not None and list(good) == [b'{"event": "a"}', b"2"]


@needs_native
def test_native_splits_are_a_sequence_of_the_events_bytes() -> None:
    events = native.split_array(b' [ {"event": "a"} ,\n2, "x", 2 ] ')
    assert events is not None
    assert len(events) == 4
    assert list(events) == [b'{"event": "a"}', b"2", b'"x"', b"2"]
    assert events[-2] == b'"x"'
    assert events[1:3] == [b"2", b'"x"']
    assert isinstance(events, Sequence)
    assert events.index(b"2") == 1
    assert events.index(b"2", 2) == 3
    assert events.count(b"2") == 2
    with pytest.raises(IndexError):
        events[4]
    with pytest.raises(ValueError):
        events.index(b"3")
    with pytest.raises(TypeError):
        type(events)()
    with pytest.raises(TypeError):
        native.split_array(None)  # type: ignore[arg-type]


@needs_native
@pytest.mark.usefixtures("outline_scan")
def test_the_native_splitter_takes_valid_surrogate_pairs() -> None:
    body = b'[{"a": "\\ud83c\\udf0d \\uD83D\\uDE00"}, 1]'
    split = native.split_array(body)
    assert split is not None
    assert list(split) == msgspec_split(body)


@needs_native
@pytest.mark.usefixtures("outline_scan")
def test_the_native_splitter_takes_bodies_of_many_events() -> None:
    events = [b'{"event": "e%d"}' % i for i in range(1000)]
    body = b"[" + b",".join(events) + b"]"
    split = native.split_array(body)
    assert split is not None
    assert list(split) == events == msgspec_split(body)


@needs_native
@pytest.mark.usefixtures("outline_scan")
def test_the_native_splitter_takes_events_as_deep_as_the_pipeline_does() -> None:
    deepest = b"[" * 256 + b"]" * 256
    assert list(native.split_array(b"[" + deepest + b"]") or []) == [deepest]


# The object form: native.split_object against msgspec decoding TrackBatch and SegmentBatch.

_track_object = msgspec.json.Decoder(TrackBatch)
_segment_object = msgspec.json.Decoder(SegmentBatch)


def msgspec_object(body: bytes, sent_key: bytes) -> tuple[list[bytes], Any] | None:
    decoder = _track_object if sent_key == b"sent_at" else _segment_object
    try:
        document = decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError):
        return None
    return [bytes(event) for event in document.batch], document.sent_at


sent_values = st.one_of(
    st.none(),
    st.integers(min_value=-(10**17), max_value=10**17),
    st.text(max_size=30),
)


@st.composite
def object_bodies(draw: st.DrawFn) -> tuple[bytes, bytes, bool]:
    """A batch object, its sent time's key, and whether that time is written with an
    escape (which the splitter leaves to msgspec)."""
    sent_key = draw(st.sampled_from([b"sent_at", b"sentAt"]))
    members: dict[str, Any] = {"batch": draw(st.lists(json_values, max_size=5))}
    if draw(st.booleans()):
        members[sent_key.decode()] = draw(sent_values)
    # Other members' keys may need escapes too (they are skipped either way, but a key with
    # an escape could spell "batch": left to msgspec).
    plain_keys = st.text("abcdefghijklmnopqrstuvwxyz_AZ09", max_size=8)
    others = draw(st.dictionaries(plain_keys, json_values, max_size=3))
    members.update({k: v for k, v in others.items() if k not in ("batch", "sent_at", "sentAt")})
    order = draw(st.permutations(list(members)))
    ensure_ascii = draw(st.booleans())
    body = json.dumps(
        {key: members[key] for key in order},
        ensure_ascii=ensure_ascii,
        indent=draw(st.sampled_from([None, 2])),
    ).encode()
    sent = members.get(sent_key.decode())
    escaped = isinstance(sent, str) and "\\" in json.dumps(sent, ensure_ascii=ensure_ascii)
    return body, sent_key, escaped


def split_as_plain(split: tuple[Sequence[bytes], Any] | None) -> tuple[list[bytes], Any] | None:
    return None if split is None else ([bytes(e) for e in split[0]], split[1])


@needs_native
@pytest.mark.usefixtures("outline_scan")
@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=object_bodies())
def test_the_native_splitter_reads_every_plain_batch_object_as_msgspec_does(
    case: tuple[bytes, bytes, bool],
) -> None:
    body, sent_key, escaped = case
    split = native.split_object(body, sent_key)
    expected = msgspec_object(body, sent_key)
    assert expected is not None
    if escaped:
        assert split is None
    else:
        assert split_as_plain(split) == expected
        try:
            events = route(sent_key)(body).events
        except InvalidShape:
            return  # a sent time that is no time: refused either way
        assert type(events) is type(split[0])  # type: ignore[index]


def route(sent_key: bytes) -> Callable[[bytes], Batch]:
    """The route's decoder that reads objects with this sent time's key."""
    from collector.sources.segment import decode_segment_batch

    return decode_batch if sent_key == b"sent_at" else decode_segment_batch


@needs_native
@pytest.mark.usefixtures("outline_scan")
@settings(
    max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), case=object_bodies())
def test_the_native_splitter_never_reads_a_batch_object_msgspec_refuses(
    data: st.DataObject, case: tuple[bytes, bytes, bool]
) -> None:
    body, sent_key, _escaped = case
    body = data.draw(damaged(body))
    split = native.split_object(body, sent_key, lambda: route_by_msgspec(sent_key)(body).events)
    if split is not None:
        events = read_strictly(split[0])
        expected = msgspec_object(body, sent_key)
        assert (None if events is None else (events, split[1])) == expected


def route_by_msgspec(sent_key: bytes) -> Callable[[bytes], Batch]:
    from collector.sources.segment import decode_segment_batch_with_msgspec

    return decode_with_msgspec if sent_key == b"sent_at" else decode_segment_batch_with_msgspec


@needs_native
@pytest.mark.usefixtures("outline_scan")
@pytest.mark.parametrize(
    "body",
    [
        b'{"batch": [], "batch": [1]}',
        b'{"batch": [], "sent_at": 1, "sent_at": 2}',
        b'{"bat\\u0063h": [1]}',
        b'{"sent_at": 1}',
        b'{"batch": {}}',
        b'{"batch": [], "sent_at": 1.5}',
        b'{"batch": [], "sent_at": true}',
        b'{"batch": [], "sent_at": 1234567890123456789}',
        b'{"batch": [], "sent_at": "a\\u0062"}',
        b'{"batch": [],}',
        b'{"batch": []} x',
        b"[]",
    ],
)
def test_the_native_splitter_leaves_to_msgspec_the_batch_objects_it_is_not_sure_of(
    body: bytes,
) -> None:
    assert native.split_object(body, b"sent_at") is None


def test_decode_batch_and_segments_read_the_sent_time_the_same_either_way() -> None:
    from collector.sources.segment import (
        decode_segment_batch,
        decode_segment_batch_with_msgspec,
    )

    track = b'{"batch": [{"event": "a"}], "sent_at": "2026-01-01T00:00:00.250Z", "x": {}}'
    segment = track.replace(b"sent_at", b"sentAt")
    for decode, reference, body, key in [
        (decode_batch, decode_with_msgspec, track, b"sent_at"),
        (decode_segment_batch, decode_segment_batch_with_msgspec, segment, b"sentAt"),
    ]:
        if native.IMPLEMENTATION == "native":
            assert native.split_object(body, key) is not None
        batch, expected = decode(body), reference(body)
        assert ([bytes(e) for e in batch.events], batch.sent_ms) == (
            [bytes(e) for e in expected.events],
            expected.sent_ms,
        )
        bad = body.replace(b"2026-01-01T00:00:00.250Z", b"soon")
        with pytest.raises(InvalidShape, match=r"sent_?[aA]t: not an ISO-8601"):
            decode(bad)
