import pytest

from collector.keying import choose_key


@pytest.mark.parametrize(
    ("event", "key"),
    [
        ({"user_id": "u", "anonymous_id": "a", "session_id": "s"}, b"u"),
        ({"anonymous_id": "a", "session_id": "s"}, b"a"),
        ({"session_id": "s"}, b"s"),
        ({"user_id": "", "anonymous_id": "a"}, b"a"),
        ({"user_id": None, "session_id": "s"}, b"s"),
        ({"user_id": 42}, b"42"),
        ({"user_id": -7}, b"-7"),
        ({"user_id": 10**30}, b"1" + b"0" * 30),
        ({"user_id": "Zoë 🙂"}, "Zoë 🙂".encode()),
        ({"user_id": True, "anonymous_id": "a"}, b"a"),
        ({"user_id": 1.5, "anonymous_id": "a"}, b"a"),
        ({"user_id": {"id": 1}, "anonymous_id": ["x"], "session_id": "s"}, b"s"),
    ],
)
def test_choose_key_takes_the_first_usable_identity(event: dict[str, object], key: bytes) -> None:
    assert choose_key(event) == key


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"event": "page"},
        {"user_id": "", "anonymous_id": "", "session_id": ""},
        {"user_id": None},
    ],
)
def test_choose_key_gives_no_key_rather_than_an_empty_one(event: dict[str, object]) -> None:
    assert choose_key(event) is None
