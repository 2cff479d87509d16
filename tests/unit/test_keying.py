import pytest

from collector.config import HotKeys
from collector.envelope import Activity
from collector.keying import HotKeySalter, choose_key

NOW = 1_795_703_107_123


def activity(
    user_id: str | None = None, anonymous_id: str | None = None, session_id: str | None = None
) -> Activity:
    return Activity(
        event_id="e",
        type="track",
        event="a",
        source="web",
        received_at="2026-11-26T14:25:07.123Z",
        ts="2026-11-26T14:25:07.123Z",
        user_id=user_id,
        anonymous_id=anonymous_id,
        session_id=session_id,
    )


def test_choose_key_picks_the_user_id_first() -> None:
    assert choose_key(activity("u", "a", "s")) == b"u"


def test_choose_key_picks_the_anonymous_id_without_a_user_id() -> None:
    assert choose_key(activity(None, "a", "s")) == b"a"


def test_choose_key_picks_the_session_id_last() -> None:
    assert choose_key(activity(None, None, "s")) == b"s"


def test_choose_key_gives_none_without_an_identity() -> None:
    assert choose_key(activity()) is None


def test_choose_key_skips_empty_identities() -> None:
    assert choose_key(activity("", "a", "s")) == b"a"
    assert choose_key(activity("", "", "s")) == b"s"
    assert choose_key(activity("", None, None)) is None
    assert choose_key(activity(None, "", None)) is None


@pytest.mark.parametrize(
    ("user_id", "anonymous_id", "session_id"), [(None, None, ""), ("", "", ""), ("", None, "")]
)
def test_choose_key_never_gives_an_empty_key(
    user_id: str | None, anonymous_id: str | None, session_id: str | None
) -> None:
    assert choose_key(activity(user_id, anonymous_id, session_id)) is None


def test_choose_key_encodes_unicode_as_utf8() -> None:
    assert choose_key(activity("Zoë 🙂")) == "Zoë 🙂".encode()
    assert choose_key(activity(None, "ユーザー")) == "ユーザー".encode()
    assert choose_key(activity("Zoë 🙂")) == b"Zo\xc3\xab \xf0\x9f\x99\x82"


def test_choose_key_keeps_a_tokenized_user_id_as_is() -> None:
    token = "tok_3f9a0c1b2d4e5f60718293a4b5c6d7e8"
    assert choose_key(activity(token, "a")) == token.encode()


def test_choose_key_treats_the_string_zero_as_an_identity() -> None:
    assert choose_key(activity("0", "a")) == b"0"


def salter(max_events_per_key: int = 3, salts: int = 4, window_s: int = 10) -> HotKeySalter:
    return HotKeySalter(
        HotKeys(max_events_per_key=max_events_per_key, window_s=window_s, salts=salts)
    )


def test_hot_key_salter_leaves_a_key_within_the_budget_unchanged() -> None:
    keys = salter(max_events_per_key=3)
    assert [keys.salt(b"user", NOW + i) for i in range(3)] == [(b"user", None)] * 3


def test_hot_key_salter_salts_a_key_over_the_budget_round_robin() -> None:
    keys = salter(max_events_per_key=3, salts=4)
    for i in range(3):
        keys.salt(b"user", NOW + i)
    assert [keys.salt(b"user", NOW + 3 + i) for i in range(9)] == [
        (b"user#0", 0),
        (b"user#1", 1),
        (b"user#2", 2),
        (b"user#3", 3),
        (b"user#0", 0),
        (b"user#1", 1),
        (b"user#2", 2),
        (b"user#3", 3),
        (b"user#0", 0),
    ]


def test_hot_key_salter_uses_all_salts_evenly() -> None:
    keys = salter(max_events_per_key=0, salts=8)
    produced = [keys.salt(b"k", NOW)[0] for _ in range(80)]
    assert sorted(set(produced)) == [b"k#%d" % i for i in range(8)]
    assert all(produced.count(b"k#%d" % i) == 10 for i in range(8))


def test_hot_key_salter_default_budget_is_generous() -> None:
    keys = HotKeySalter(HotKeys())
    assert all(keys.salt(b"user", NOW) == (b"user", None) for _ in range(20_000))
    assert keys.salt(b"user", NOW) == (b"user#0", 0)


def test_hot_key_salter_keys_are_independent() -> None:
    keys = salter(max_events_per_key=2, salts=4)
    for i in range(4):
        keys.salt(b"hot", NOW + i)
    assert keys.salt(b"cold", NOW + 10) == (b"cold", None)
    assert keys.salt(b"cold", NOW + 11) == (b"cold", None)
    assert keys.salt(b"hot", NOW + 12) == (b"hot#2", 2)
    # The cold key's own round robin starts at 0 once it is hot too.
    assert keys.salt(b"cold", NOW + 13) == (b"cold#0", 0)
    assert keys.salt(b"hot", NOW + 14) == (b"hot#3", 3)


def test_hot_key_salter_salts_keys_with_unicode_bytes() -> None:
    key = "Zoë 🙂".encode()
    keys = salter(max_events_per_key=0, salts=2)
    assert keys.salt(key, NOW) == (key + b"#0", 0)
    assert keys.salt(key, NOW) == (key + b"#1", 1)


def test_hot_key_salter_stops_salting_once_the_key_cools_down() -> None:
    keys = salter(max_events_per_key=3, window_s=10)
    for _ in range(10):
        keys.salt(b"user", NOW)
    assert keys.salt(b"user", NOW)[1] is not None
    # Two windows later nothing of the burst is left.
    assert keys.salt(b"user", NOW + 20_000) == (b"user", None)


def test_hot_key_salter_window_is_in_seconds() -> None:
    keys = salter(max_events_per_key=3, window_s=1)
    start = (NOW // 1000) * 1000
    for _ in range(3):
        keys.salt(b"user", start)
    # 2.5 s later the 1 s window holds none of the first hits.
    assert keys.salt(b"user", start + 2_500) == (b"user", None)
