"""The native hot path and its Python twin give the same records."""

import msgspec
import pytest

from collector import native, records

encode = msgspec.json.Encoder().encode

BATCHES = [
    [],
    [{"event": "a"}],
    [{"user_id": "u", "event": "x"}, {"anonymous_id": "a"}, {"session_id": 5}, {"user_id": ""}],
    [{"user_id": True}, {"user_id": 2**70}, {"anonymous_id": "ünï"}, {"session_id": None}],
]


def test_native_extension_is_built() -> None:
    # The normal install compiles native/; a silent fallback would hide a broken build.
    assert native.IMPLEMENTATION == "native"


@pytest.mark.parametrize("batch", BATCHES)
def test_native_and_python_build_identical_records(batch: list[dict[str, object]]) -> None:
    assert native.build_records(batch, encode) == records.build_records(batch, encode)


def test_build_records_keeps_order_and_encodes_values() -> None:
    batch = [{"event": "a", "user_id": "u"}, {"event": "b"}]
    assert records.build_records(batch, encode) == [
        (b"u", b'{"event":"a","user_id":"u"}'),
        (None, b'{"event":"b"}'),
    ]
