import pytest

from collector.decoding import decode_batch
from collector.errors import BadRequest, InvalidJSON, InvalidShape


def test_decode_batch_accepts_an_array_of_events() -> None:
    assert decode_batch(b'[{"event": "a"}, {"event": "b", "n": 1}]') == [
        {"event": "a"},
        {"event": "b", "n": 1},
    ]


def test_decode_batch_accepts_a_batch_object_and_ignores_its_other_fields() -> None:
    body = b'{"batch": [{"event": "a"}], "sentAt": "2026-01-01T00:00:00Z"}'
    assert decode_batch(body) == [{"event": "a"}]


def test_decode_batch_accepts_an_empty_batch() -> None:
    assert decode_batch(b"[]") == []
    assert decode_batch(b'{"batch": []}') == []


def test_decode_batch_keeps_unicode_and_big_numbers() -> None:
    body = '[{"event": "héllo 🌍", "n": 123456789012345678901234567890}]'.encode()
    assert decode_batch(body) == [{"event": "héllo 🌍", "n": 123456789012345678901234567890}]


@pytest.mark.parametrize(
    "body",
    [b"nope", b"[{", b'{"batch": [}', b"\xff\xfe", b"[1,]", b'[{"a": 1}] trailing'],
)
def test_decode_batch_rejects_malformed_json(body: bytes) -> None:
    with pytest.raises(InvalidJSON, match="not valid JSON"):
        decode_batch(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b"  \n", "empty body"),
        (b"null", "body must be an array of event objects, not null"),
        (b"42", "body must be an array of event objects, not a number"),
        (b'"x"', "body must be an array of event objects, not a string"),
        (b'{"events": []}', 'object with a "batch" array'),
        (b'{"batch": {"event": "a"}}', "batch must be an array of event objects, not an object"),
        (b'{"batch": null}', "batch must be an array of event objects, not null"),
        (b'[{"event": "a"}, []]', r"body\[1\] must be an event object, not an array"),
        (b'{"batch": [true]}', r"batch\[0\] must be an event object, not a boolean"),
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
