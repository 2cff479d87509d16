import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from collector.config import ConfigError, Pii, PiiAction
from collector.envelope import Activity
from collector.pii import (
    _FREE_TEXT,
    DEVELOPMENT_SECRET,
    MASK,
    PiiPolicy,
    Tokenizer,
    _replacement,
    key_id_of,
    load_secret,
    may_hold_pii,
    scrub_text,
    truncate_ip,
)
from tests.support.text import pii_like_text

SECRET = b"s" * 32
OTHER_SECRET = b"t" * 32
HEX32 = re.compile(r"[0-9a-f]{32}")
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def activity(
    context: dict[str, Any] | None = None,
    properties: dict[str, Any] | None = None,
    **fields: Any,
) -> Activity:
    return Activity(
        event_id="e",
        type="track",
        source="web",
        received_at="x",
        ts="x",
        context={} if context is None else context,
        properties={} if properties is None else properties,
        **fields,
    )


def token(value: str, secret: bytes = SECRET) -> str:
    return Tokenizer(secret).token(value)


def policy(rules: dict[str, PiiAction] | None = None, **settings: Any) -> PiiPolicy:
    pii = Pii(**settings) if rules is None else Pii(rules=rules, **settings)
    return PiiPolicy(pii, SECRET)


# load_secret


def test_load_secret_production_without_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match="no PII secret"):
        load_secret(Pii(), "production")


def test_load_secret_production_with_empty_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match="no PII secret"):
        load_secret(Pii(secret=""), "production")


def test_load_secret_development_without_secret_uses_the_development_one() -> None:
    assert load_secret(Pii(), "development") == DEVELOPMENT_SECRET.encode()


def test_load_secret_returns_the_configured_secret_as_bytes() -> None:
    assert load_secret(Pii(secret="a" * 16), "production") == b"a" * 16


def test_load_secret_reads_and_strips_the_secret_file(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("  file-secret-of-enough-length \n\n")
    settings = Pii(secret="ignored-env-secret-xxxxx", secret_file=str(path))
    assert load_secret(settings, "production") == b"file-secret-of-enough-length"


def test_load_secret_missing_secret_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_secret(Pii(secret_file=str(tmp_path / "absent")), "development")


def test_load_secret_blank_secret_file_in_production_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(" \n")
    with pytest.raises(ConfigError, match="no PII secret"):
        load_secret(Pii(secret_file=str(path)), "production")


@pytest.mark.parametrize("environment", ["production", "development"])
def test_load_secret_too_short_secret_is_refused(environment: str) -> None:
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        load_secret(Pii(secret="a" * 15), environment)


def test_load_secret_counts_bytes_not_characters() -> None:
    # Eight characters, sixteen bytes in UTF-8.
    assert load_secret(Pii(secret="é" * 8), "production") == ("é" * 8).encode()


# key_id_of


def test_key_id_of_is_stable() -> None:
    assert key_id_of(SECRET) == key_id_of(bytes(SECRET))
    assert re.fullmatch(r"k-[0-9a-f]{8}", key_id_of(SECRET))


def test_key_id_of_differs_per_secret() -> None:
    assert key_id_of(SECRET) != key_id_of(OTHER_SECRET)


def test_key_id_of_does_not_contain_the_secret() -> None:
    secret = b"correct-horse-battery-staple"
    key_id = key_id_of(secret)
    assert secret.decode() not in key_id
    assert secret.hex() not in key_id
    assert "correct" not in key_id


# Tokenizer


def test_tokenizer_is_deterministic() -> None:
    assert Tokenizer(SECRET).token("bob@example.com") == Tokenizer(SECRET).token("bob@example.com")
    tokenizer = Tokenizer(SECRET)
    assert tokenizer.token("u-1") == tokenizer.token("u-1")


def test_tokenizer_differs_per_key() -> None:
    assert token("bob@example.com") != token("bob@example.com", OTHER_SECRET)


def test_tokenizer_differs_per_value() -> None:
    assert token("u-1") != token("u-2")


@pytest.mark.parametrize("value", ["", "u-1", "bob@example.com", "Zoë 🙂", "x" * 10_000])
def test_tokenizer_gives_32_hex_chars(value: str) -> None:
    assert HEX32.fullmatch(token(value))


def test_tokenizer_accepts_secrets_longer_than_64_bytes() -> None:
    long_secret = b"L" * 100
    assert HEX32.fullmatch(token("u-1", long_secret))
    assert token("u-1", long_secret) != token("u-1", b"L" * 64)


def test_tokenizer_token_does_not_contain_the_value() -> None:
    assert "bob" not in token("bob")


# truncate_ip


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.7", "203.0.113.0"),
        ("192.168.1.255", "192.168.1.0"),
        ("10.0.0.1", "10.0.0.0"),
        (" 198.51.100.42 ", "198.51.100.0"),
        ("2001:db8:abcd:1234::1", "2001:db8:abcd::"),
        ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "2001:db8:85a3::"),
        ("::1", "::"),
        ("::ffff:203.0.113.9", "203.0.113.0"),
        ("::ffff:cb00:7109", "203.0.113.0"),
    ],
)
def test_truncate_ip_keeps_the_network(address: str, network: str) -> None:
    assert truncate_ip(address) == network


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3.04",
        "\u0661.2.3.4",
        "203.0.113.7/24",
        "example.com",
        "::g",
    ],
)
def test_truncate_ip_garbage_gives_none(value: str) -> None:
    assert truncate_ip(value) is None


# scrub_text


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("mail bob@example.com now", "mail [email] now"),
        ("mail bob.smith+tag@mail.example.co.uk", "mail [email]"),
        ("ZOE@Example.COM.", "[email]."),
        ("from 192.168.1.20 here", "from [ip] here"),
        ("203.0.113.7:8080", "[ip]:8080"),
        ("v6 2001:db8::1 x", "v6 [ip] x"),
        ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "[ip]"),
        ("at [2001:db8::1]:443", "at [[ip]]:443"),
        ("call +1 (555) 123-4567", "call [phone]"),
        ("call +44 20 7946 0958 today", "call [phone] today"),
        ("call 555-123-4567", "call [phone]"),
        ("(555) 123-4567", "[phone]"),
        ("+1.555.123.4567", "[phone]"),
        ("+33 6 12 34 56 78", "[phone]"),
        ("+15551234567", "[phone]"),
        ("card 4111 1111 1111 1111 ok", "card [card] ok"),
        ("card 4111-1111-1111-1111", "card [card]"),
        ("card 4111111111111111, thanks", "card [card], thanks"),
        ("5555555555554444", "[card]"),
        ("amex 3782 822463 10005", "amex [card]"),
    ],
)
def test_scrub_text_replaces_pii(text: str, scrubbed: str) -> None:
    assert scrub_text(text) == scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111112",
        "4111 1111 1111 1112",
        "2026-11-26",
        "on 2026-11-26 at 14:25:07",
        "14:25:07",
        "2026-11-26T14:25:07.123Z",
        "version 1.2.3",
        "build 10.0.19041.1",
        "12.99",
        "price 1299.99 EUR",
        "order 12345",
        "zip 90210",
        "sku 123-45",
        "count 1000000",
        "MAC 00:1A:2B:3C:4D:5E",
        "hello world",
        "ordered 3 items at 12.99 each on 2026-11-26 at 14:25:07, app v1.2.3",
        "",
    ],
)
def test_scrub_text_leaves_non_pii_alone(text: str) -> None:
    assert scrub_text(text) == text


def test_scrub_text_finds_pii_inside_unicode_text() -> None:
    text = "Grüße von José 📧 jose@example.com ☕ Tel. +49 30 1234 5678 — IP 198.51.100.4 ✓"
    assert scrub_text(text) == "Grüße von José 📧 [email] ☕ Tel. [phone] — IP [ip] ✓"


def test_scrub_text_replaces_every_occurrence() -> None:
    text = "a@b.io, c@d.io and a@b.io; 10.0.0.1 10.0.0.1; 4111111111111111/4111111111111111"
    assert scrub_text(text) == "[email], [email] and [email]; [ip] [ip]; [card]/[card]"


def test_scrub_text_replaces_repeated_phones_separated_by_words() -> None:
    text = "555 123 4567 or 555 987 6543 or +1 555 123 4567"
    assert scrub_text(text) == "[phone] or [phone] or [phone]"


def test_scrub_text_is_idempotent() -> None:
    once = scrub_text("bob@example.com 10.0.0.1 +1 (555) 123-4567 4111 1111 1111 1111")
    assert scrub_text(once) == once


@pytest.mark.parametrize("text", ["My card is 4111 1111 1111 1111.", "Card: 5555555555554444."])
def test_scrub_text_replaces_a_card_at_the_end_of_a_sentence(text: str) -> None:
    assert "[card]" in scrub_text(text)


def test_scrub_text_replaces_phones_separated_by_a_space() -> None:
    assert scrub_text("phones: 555-123-4567 555-987-6543") == "phones: [phone] [phone]"


def test_scrub_text_replaces_an_ipv4_mapped_ipv6_address() -> None:
    assert scrub_text("from ::ffff:192.0.2.1 ok") == "from [ip] ok"


@pytest.mark.parametrize("text", ["+44 7700 900123", "+49 30 12345678"])
def test_scrub_text_replaces_international_phones_with_long_groups(text: str) -> None:
    assert scrub_text(text) == "[phone]"


def test_scrub_text_replaces_an_internationalized_email() -> None:
    assert scrub_text("zoë@example.com") == "[email]"


@settings(max_examples=3000, deadline=None)
@given(pii_like_text())
def test_scrub_text_skips_the_patterns_only_for_text_they_leave_alone(text: str) -> None:
    # The pre-check is a shortcut, never a change of what is scrubbed.
    assert scrub_text(text) == _FREE_TEXT.sub(_replacement, text)


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("s-004456-2", "s-004456-2"),
        ("order 12345678", "order 12345678"),
        ("v1.2.3", "v1.2.3"),
        ("1.2.3.4", "[ip]"),
        ("call 555 123 456", "call [phone]"),
        ("a%40b.example", "[email]"),
        ("fe80::1", "[ip]"),
    ],
)
def test_scrub_text_at_the_edges_of_its_pre_check(text: str, scrubbed: str) -> None:
    assert scrub_text(text) == scrubbed


@pytest.mark.parametrize(
    ("text", "may"),
    [
        ("s-004456-2", False),
        ("12345678", False),
        ("123456789", True),
        ("v1.2.3", False),
        ("1.2.3.4", True),
        ("1.2.3.", False),
        ("10:30", False),
        ("a::b", True),
        ("x@y", True),
        ("100%", True),
        ("\u0663" * 8, False),
        ("\u0663" * 9, True),
    ],
)
def test_the_pre_check_passes_exactly_what_a_pattern_could_change(text: str, may: bool) -> None:
    # Passing more would only cost time, which no result shows; so the thresholds are
    # checked themselves.
    assert may_hold_pii(text) is may


# PiiPolicy: default rules


def test_policy_key_id_defaults_to_the_secret_fingerprint() -> None:
    assert PiiPolicy(Pii(), SECRET).key_id == key_id_of(SECRET)
    assert PiiPolicy(Pii(key_id="k-custom"), SECRET).key_id == "k-custom"
    assert PiiPolicy(Pii(key_id="k-custom"), SECRET, key_id="k-arg").key_id == "k-arg"


def test_policy_default_tokenizes_user_id() -> None:
    event = activity(user_id="bob@example.com", anonymous_id="anon-1", session_id="s-1")
    policy().apply(event)
    assert event.user_id == token("bob@example.com")
    assert event.anonymous_id == "anon-1"
    assert event.session_id == "s-1"


def test_policy_default_tokenizes_email_at_any_depth() -> None:
    event = activity(
        context={"traits": {"email": "a@example.com", "name": "Ann"}},
        properties={
            "email": "b@example.com",
            "customer": {"billing": {"email": "c@example.com"}},
            "contacts": [{"email": "d@example.com"}, {"email": "e@example.com", "n": 1}],
        },
    )
    policy().apply(event)
    assert event.context == {"traits": {"email": token("a@example.com"), "name": "Ann"}}
    assert event.properties == {
        "email": token("b@example.com"),
        "customer": {"billing": {"email": token("c@example.com")}},
        "contacts": [{"email": token("d@example.com")}, {"email": token("e@example.com"), "n": 1}],
    }


def test_policy_default_truncates_context_ip() -> None:
    event = activity(context={"ip": "203.0.113.7"})
    policy().apply(event)
    assert event.context == {"ip": "203.0.113.0"}


def test_policy_default_truncates_ipv6_context_ip() -> None:
    event = activity(context={"ip": "2001:db8:abcd:1234::1"})
    policy().apply(event)
    assert event.context == {"ip": "2001:db8:abcd::"}


def test_policy_default_drops_a_context_ip_that_is_not_one() -> None:
    event = activity(context={"ip": "unknown", "locale": "en-US"})
    policy().apply(event)
    assert event.context == {"locale": "en-US"}


def test_policy_default_scrubs_free_text_under_scrub_paths() -> None:
    event = activity(
        event="Sent to bob@example.com",
        context={
            "page": {"url": "https://shop.example/?email=bob@example.com&ip=10.1.2.3"},
            "traits": {"notes": "call +1 (555) 123-4567"},
        },
        properties={
            "comment": "card 4111 1111 1111 1111 please",
            "nested": {"deeper": ["ip 198.51.100.4", {"text": "mail x@example.org"}]},
        },
    )
    policy().apply(event)
    assert event.event == "Sent to [email]"
    assert event.context == {
        "page": {"url": "https://shop.example/?email=[email]&ip=[ip]"},
        "traits": {"notes": "call [phone]"},
    }
    assert event.properties == {
        "comment": "card [card] please",
        "nested": {"deeper": ["ip [ip]", {"text": "mail [email]"}]},
    }


def test_policy_default_leaves_other_context_alone() -> None:
    context = {
        "user_agent": CHROME,
        "library": {"name": "analytics.js", "version": "5.2.1"},
        "campaign": {"name": "spring 2026-11-26"},
        "locale": "en-US",
    }
    event = activity(context={**context})
    policy().apply(event)
    assert event.context == context


def test_policy_default_leaves_non_strings_alone() -> None:
    properties = {"n": 4111111111111111, "f": 12.99, "b": True, "none": None, "list": [1, 2]}
    event = activity(properties={**properties})
    policy().apply(event)
    assert event.properties == properties


def test_policy_never_scrubs_a_token_a_rule_produced() -> None:
    rules: dict[str, PiiAction] = {"properties.email": "tokenize", "properties.ip": "truncate_ip"}
    event = activity(properties={"email": "bob@example.com", "ip": "203.0.113.7"})
    policy(rules=rules).apply(event)
    assert event.properties == {"email": token("bob@example.com"), "ip": "203.0.113.0"}
    # The truncated address is itself an IPv4 address: scrubbing it would give "[ip]".
    assert scrub_text("203.0.113.0") == "[ip]"


def test_policy_never_scrubs_a_top_level_token() -> None:
    event = activity(event="10.0.0.1 signed up")
    policy(rules={"event": "tokenize"}).apply(event)
    assert event.event == token("10.0.0.1 signed up")


def test_policy_is_deterministic_across_instances() -> None:
    def apply() -> Activity:
        event = activity(
            user_id="u-1",
            context={"ip": "203.0.113.7"},
            properties={"email": "bob@example.com", "note": "call 555-123-4567"},
        )
        policy().apply(event)
        return event

    assert apply() == apply()


# PiiPolicy: custom rules


def test_policy_mask_replaces_the_value() -> None:
    event = activity(properties={"holder": "Bob Smith", "other": "x"}, session_id="s-1")
    policy(rules={"properties.holder": "mask", "session_id": "mask"}).apply(event)
    assert event.properties == {"holder": MASK, "other": "x"}
    assert event.session_id == MASK


def test_policy_drop_removes_the_field() -> None:
    event = activity(
        anonymous_id="anon-1",
        context={"device": {"id": "dev-1", "model": "iPhone"}},
        properties={"ssn": "123-45-6789"},
    )
    rules: dict[str, PiiAction] = {
        "anonymous_id": "drop",
        "context.device.id": "drop",
        "properties.ssn": "drop",
    }
    policy(rules=rules).apply(event)
    assert event.anonymous_id is None
    assert event.context == {"device": {"model": "iPhone"}}
    assert event.properties == {}


def test_policy_rules_replace_the_defaults() -> None:
    event = activity(user_id="u-1", context={"ip": "203.0.113.7"}, properties={"email": "a@b.io"})
    policy(rules={"properties.other": "drop"}, scrub_paths=[]).apply(event)
    assert event.user_id == "u-1"
    assert event.context == {"ip": "203.0.113.7"}
    assert event.properties == {"email": "a@b.io"}


def test_policy_wildcard_matches_one_level() -> None:
    event = activity(
        properties={
            "phone": "+1 555 123 4567",
            "billing": {"phone": "+1 555 000 0001", "city": "Paris"},
            "shipping": {"phone": "+1 555 000 0002"},
            "a": {"b": {"phone": "+1 555 000 0003"}},
        }
    )
    policy(rules={"properties.*.phone": "mask"}, scrub_paths=[]).apply(event)
    assert event.properties == {
        "phone": "+1 555 123 4567",
        "billing": {"phone": MASK, "city": "Paris"},
        "shipping": {"phone": MASK},
        "a": {"b": {"phone": "+1 555 000 0003"}},
    }


def test_policy_trailing_wildcard_matches_every_key_of_a_section() -> None:
    event = activity(
        properties={"billing": {"name": "Ann", "zip": "75001"}, "plan": "pro"},
        context={"billing": {"name": "Ann"}},
    )
    policy(rules={"properties.billing.*": "mask"}).apply(event)
    assert event.properties == {"billing": {"name": MASK, "zip": MASK}, "plan": "pro"}
    assert event.context == {"billing": {"name": "Ann"}}


def test_policy_any_depth_rule_applies_under_context_and_properties() -> None:
    event = activity(
        context={"traits": {"phone": "555-123-4567"}},
        properties={"phone": "555-123-4567", "x": [{"phone": "555-987-6543"}]},
    )
    policy(rules={"**.phone": "drop"}).apply(event)
    assert event.context == {"traits": {}}
    assert event.properties == {"x": [{}]}


def test_policy_rules_apply_to_each_item_of_a_list() -> None:
    event = activity(
        properties={
            "emails": ["a@example.com", "b@example.com"],
            "ips": ["203.0.113.7", "not-an-ip", "2001:db8:abcd:1234::1"],
            "names": ["Ann", "Bob"],
            "tags": ["x", "y"],
        }
    )
    rules: dict[str, PiiAction] = {
        "properties.emails": "tokenize",
        "properties.ips": "truncate_ip",
        "properties.names": "mask",
        "properties.tags": "drop",
    }
    policy(rules=rules).apply(event)
    assert event.properties == {
        "emails": [token("a@example.com"), token("b@example.com")],
        "ips": ["203.0.113.0", "2001:db8:abcd::"],
        "names": [MASK, MASK],
    }


def test_policy_list_items_share_their_list_path() -> None:
    event = activity(properties={"items": [{"sku": "A1", "buyer": "Ann"}, {"sku": "B2"}]})
    policy(rules={"properties.items.buyer": "mask"}).apply(event)
    assert event.properties == {"items": [{"sku": "A1", "buyer": MASK}, {"sku": "B2"}]}


@pytest.mark.parametrize("value", [42, "not-an-ip", "", ["x"], {"ip": "1.2.3.4"}])
def test_policy_truncate_ip_drops_a_non_ip(value: object) -> None:
    event = activity(properties={"addr": value, "keep": 1})
    policy(rules={"properties.addr": "truncate_ip"}).apply(event)
    expected: dict[str, Any] = {"keep": 1}
    if isinstance(value, list):
        expected["addr"] = []
    assert event.properties == expected


def test_policy_truncate_ip_on_a_top_level_non_ip_drops_it() -> None:
    event = activity(session_id="not-an-ip")
    policy(rules={"session_id": "truncate_ip"}).apply(event)
    assert event.session_id is None


def test_policy_tokenizes_non_string_values_deterministically() -> None:
    def tokenized(value: object) -> object:
        event = activity(properties={"v": value})
        policy(rules={"properties.v": "tokenize"}).apply(event)
        return event.properties["v"]

    assert tokenized(42) == tokenized(42) == token("42")
    assert tokenized(12.5) == token("12.5")
    assert tokenized(True) == token("true")
    assert tokenized({"b": 1, "a": [2, 3]}) == tokenized({"a": [2, 3], "b": 1})
    assert tokenized({"b": 1, "a": [2, 3]}) == token('{"a":[2,3],"b":1}')
    assert tokenized({"a": 1}) != tokenized({"a": 2})
    assert tokenized([1, "x"]) == [token("1"), token("x")]
    for value in (42, {"a": 1}):
        result = tokenized(value)
        assert isinstance(result, str)
        assert HEX32.fullmatch(result)


def test_policy_leaves_none_values_in_place() -> None:
    event = activity(properties={"email": None})
    policy().apply(event)
    assert event.properties == {"email": None}


@pytest.mark.parametrize("path", ["extra.email", "userid", "email", "received_at", "page.url"])
def test_policy_unknown_top_level_rule_path_is_refused(path: str) -> None:
    with pytest.raises(ConfigError, match="unknown field"):
        policy(rules={path: "drop"})
