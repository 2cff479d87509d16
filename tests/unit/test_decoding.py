import pytest

from collector.decoding import decode_batch
from collector.errors import BadRequest, InvalidJSON, InvalidShape


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
    assert batch.events == []


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
