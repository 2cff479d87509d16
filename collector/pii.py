"""Personal data out of the records: keyed tokens, truncated addresses, scrubbed free text.

Field rules (`[pii.rules]` in the configuration) act on named fields:
  tokenize     keyed BLAKE2b of the value: the same input and key give the same token, so
               joins across events still work; without the key it cannot be reversed
  truncate_ip  IPv4 to its /24, IPv6 to its /48; anything that is not an IP address is dropped
  mask         replaced with "****"
  drop         removed
Free-text scrubbing replaces emails, IP addresses, phone numbers and Luhn-valid card numbers
inside string values under the configured paths with "[email]", "[ip]", "[phone]", "[card]".
A value a field rule produced is never scrubbed again.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import re
from pathlib import Path
from typing import Any

import msgspec

from collector.config import ConfigError, Pii, PiiAction
from collector.envelope import Activity

logger = logging.getLogger(__name__)

# Used only when COLLECTOR_ENV=development and no secret is configured. Tokens made with it
# protect nothing: anyone can recompute them.
DEVELOPMENT_SECRET = "collector-DEVELOPMENT-ONLY-pii-secret-do-not-use-in-production"
MASK = "****"
_MIN_SECRET_BYTES = 16
# Distinct values whose tokens are remembered; the cache starts over beyond it.
_TOKEN_CACHE_LIMIT = 200_000
# Envelope fields a rule may name directly (everything else lives under context/properties).
_TOP_LEVEL = ("event", "user_id", "anonymous_id", "session_id", "group_id", "previous_id")
_DROP = object()
# Segment's spelling of the fields rules name.
_SNAKE = {
    "userId": "user_id",
    "anonymousId": "anonymous_id",
    "groupId": "group_id",
    "previousId": "previous_id",
}
_decode_any = msgspec.json.Decoder().decode

# What text needs for _FREE_TEXT.sub to change it: an email, an @ or a %40; an IPv4 address,
# four digits and three dots; an IPv6 address, two colons; a card or a phone number, nine
# digits (_phone_replacement leaves shorter numbers, and a card that fails Luhn goes to it).
# Text with none of these is left as it is without running the patterns: most identifiers
# with a few digits in them (session ids, versions, order numbers) are.
_DIGIT = re.compile(r"\d")
_PHONE = (
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]\d{2,8}){1,6}(?![\w:])"
    r"|(?<![\w+])\+\d{8,15}(?!\w)"
)
_FREE_TEXT = re.compile(
    # \w is Unicode-aware: zoë@example.com is an address too; %40 is an @ in a URL.
    r"(?P<email>[\w.%+-]+(?:@|%40)[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,})"
    r"|(?P<ip4>(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
    r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\w|\.\d))"
    r"|(?P<ip6>(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?"
    r"(?![\w:]|\.\d))"
    # A card number stands alone: no digits run on before or after it, even across a separator.
    r"|(?P<card>(?<!\d)(?<!\d[.\- ])[2-6](?:[ -]?\d){12,18}(?![ -]?\d|\.\d))"
    rf"|(?P<phone>{_PHONE})"
)
_PHONES = re.compile(_PHONE)


def load_secret(settings: Pii, environment: str) -> bytes:
    """The tokenization key; refuses to start production without one of at least 16 bytes."""
    secret: str | None = settings.secret
    if settings.secret_file:
        try:
            secret = Path(settings.secret_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the PII secret file: {exc}") from None
    if not secret:
        if environment != "development":
            raise ConfigError(
                "no PII secret: set COLLECTOR_PII_SECRET or COLLECTOR_PII_SECRET_FILE "
                "(or COLLECTOR_ENV=development to use a public development secret)"
            )
        logger.warning("PII tokens use the public DEVELOPMENT secret; they protect nothing")
        secret = DEVELOPMENT_SECRET
    data = secret.encode()
    if len(data) < _MIN_SECRET_BYTES:
        raise ConfigError(f"the PII secret must have at least {_MIN_SECRET_BYTES} bytes")
    return data


def key_id_of(secret: bytes) -> str:
    """A fingerprint of the secret that reveals nothing about it."""
    return "k-" + hashlib.blake2b(secret, digest_size=4, person=b"pii-key-id").hexdigest()


class Tokenizer:
    def __init__(self, secret: bytes) -> None:
        # BLAKE2b takes keys of up to 64 bytes; longer secrets are hashed down to one.
        self._key = secret if len(secret) <= 64 else hashlib.blake2b(secret).digest()
        self._cache: dict[str, str] = {}

    def token(self, value: str) -> str:
        token = self._cache.get(value)
        if token is None:
            data = value.encode("utf-8", "surrogatepass")
            token = hashlib.blake2b(data, key=self._key, digest_size=16).hexdigest()
            if len(self._cache) >= _TOKEN_CACHE_LIMIT:
                self._cache.clear()
            self._cache[value] = token
        return token


@functools.lru_cache(maxsize=65_536)
def truncate_ip(value: str) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) network of an address; None if it is not one."""
    # Dotted IPv4 is nearly all traffic; the ipaddress module costs ten times more.
    octets = value.split(".")
    if len(octets) == 4 and all(_is_octet(o) for o in octets):
        return f"{octets[0]}.{octets[1]}.{octets[2]}.0"
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def _is_octet(text: str) -> bool:
    # ASCII digits, no leading zero (as the ipaddress module insists), at most 255.
    return (
        text.isascii()
        and text.isdigit()
        and len(text) <= 3
        and str(int(text)) == text
        and (int(text) <= 255)
    )


def scrub_text(text: str) -> str:
    """`text` with emails, IP addresses, phone numbers and card numbers replaced."""
    if not may_hold_pii(text):
        return text
    return _FREE_TEXT.sub(_replacement, text)


def may_hold_pii(text: str) -> bool:
    """scrub_text's pre-check: whether `text` has what one of its patterns needs."""
    if "@" in text or "%" in text or text.count(":") >= 2:
        return True
    digits = len(_DIGIT.findall(text))
    return digits >= 9 or (digits >= 4 and text.count(".") >= 3)


def _replacement(match: re.Match[str]) -> str:
    kind = match.lastgroup
    found = match.group()
    if kind == "email":
        return "[email]"
    if kind == "ip4":
        return "[ip]"
    if kind == "ip6":
        try:
            ipaddress.IPv6Address(found)
        except ValueError:
            return found
        return "[ip]"
    digits = [int(c) for c in found if c.isdigit()]
    if kind == "card":
        if _luhn(digits):
            return "[card]"
        # Not a card: perhaps phone numbers that ran together, e.g. "555-123-4567 555-9876".
        return _PHONES.sub(_phone_replacement, found)
    return _phone_replacement(match)


def _phone_replacement(match: re.Match[str]) -> str:
    found = match.group()
    digits = sum(c.isdigit() for c in found)
    if digits > 15 and " " in found:
        # Too long for one number: several, written one after another.
        return " ".join(_PHONES.sub(_phone_replacement, part) for part in found.split(" "))
    return "[phone]" if 9 <= digits <= 15 else found


def _luhn(digits: list[int]) -> bool:
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


class PiiPolicy:
    """Applies the field rules and free-text scrubbing to an envelope, in place."""

    def __init__(self, settings: Pii, secret: bytes, key_id: str | None = None) -> None:
        self.key_id = key_id or settings.key_id or key_id_of(secret)
        self._tokenizer = Tokenizer(secret)
        self._top_level: dict[str, PiiAction] = {}
        self._by_name: dict[str, PiiAction] = {}
        # Path rules by their last segment ("*" for a wildcard), checked only for keys that
        # could match.
        self._by_path: dict[str, list[tuple[tuple[str, ...], PiiAction]]] = {}
        for path, action in settings.rules.items():
            if path.startswith("**."):
                self._by_name[path[3:]] = action
            elif path in _TOP_LEVEL:
                self._top_level[path] = action
            elif path.split(".")[0] in ("context", "properties", "traits"):
                segments = tuple(path.split("."))
                self._by_path.setdefault(segments[-1], []).append((segments, action))
            else:
                raise ConfigError(f"PII rule for unknown field {path!r}")
        self._scrub_top = {p for p in settings.scrub_paths if p in _TOP_LEVEL}
        self._scrub_paths = {tuple(p.split(".")) for p in settings.scrub_paths} - {
            (p,) for p in _TOP_LEVEL
        }

    def apply(self, event: Activity) -> None:
        for name in _TOP_LEVEL:
            value = getattr(event, name)
            if value is None:
                continue
            action = self._top_level.get(name)
            if action is not None:
                result = self._act(action, value)
                setattr(event, name, None if result is _DROP else result)
            elif name in self._scrub_top:
                setattr(event, name, scrub_text(value))
        self._walk(event.context, ("context",), ("context",) in self._scrub_paths)
        if isinstance(event.properties, dict):
            self._walk(event.properties, ("properties",), ("properties",) in self._scrub_paths)
        self._walk(event.traits, ("traits",), ("traits",) in self._scrub_paths)

    def redact(self, raw: bytes) -> str:
        """A rejected event, made safe to keep: the field rules applied wherever its shape
        still allows (in either spelling: user_id or userId), every other string scrubbed.
        What is not a JSON object at all is scrubbed as text; an event with nothing to
        redact keeps its original bytes."""
        try:
            event = _decode_any(raw)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            event = None
        if not isinstance(event, dict):
            return scrub_text(raw.decode("utf-8", "replace"))
        for key in list(event):
            value = event[key]
            field = _SNAKE.get(key, key)
            action = self._top_level.get(field)
            if action is not None:
                result = self._act(action, value)
                if result is _DROP:
                    del event[key]
                else:
                    event[key] = result
            elif field in ("context", "properties", "traits") and isinstance(value, dict):
                self._walk(value, (field,), True)
            else:
                event[key] = self._descend(value, (field,), True)
        if event == _decode_any(raw):
            return raw.decode("utf-8", "replace")
        return msgspec.json.encode(event).decode()

    @property
    def touches_properties(self) -> bool:
        """Whether any rule or scrub path can change something inside `properties`."""
        return bool(
            self._by_name
            or any(
                pattern[0] == "properties"
                for rules in self._by_path.values()
                for pattern, _ in rules
            )
            or any(path[0] == "properties" for path in self._scrub_paths)
        )

    def _walk(self, tree: dict[str, Any], path: tuple[str, ...], scrub: bool) -> None:
        for key in list(tree):
            here = (*path, key)
            action = self._by_name.get(key) or self._rule_for(here)
            if action is not None:
                result = self._act(action, tree[key])
                if result is _DROP:
                    del tree[key]
                else:
                    tree[key] = result
                continue
            tree[key] = self._descend(tree[key], here, scrub or here in self._scrub_paths)

    def _descend(self, value: Any, path: tuple[str, ...], scrub: bool) -> Any:
        if isinstance(value, str):
            return scrub_text(value) if scrub else value
        if isinstance(value, dict):
            self._walk(value, path, scrub)
        elif isinstance(value, list):
            # List items share their list's path.
            return [self._descend(item, path, scrub) for item in value]
        return value

    def _rule_for(self, path: tuple[str, ...]) -> PiiAction | None:
        for candidates in (self._by_path.get(path[-1]), self._by_path.get("*")):
            for pattern, action in candidates or ():
                if len(pattern) == len(path) and all(
                    p == "*" or p == segment for p, segment in zip(pattern, path, strict=True)
                ):
                    return action
        return None

    def _act(self, action: PiiAction, value: Any) -> Any:
        if value is None:
            return None
        if action == "drop":
            return _DROP
        if isinstance(value, list):
            results = [self._act(action, item) for item in value]
            return [item for item in results if item is not _DROP]
        if action == "mask":
            return MASK
        if action == "truncate_ip":
            truncated = truncate_ip(value) if isinstance(value, str) else None
            return _DROP if truncated is None else truncated
        # tokenize: scalars by their text, structures by their canonical JSON.
        if isinstance(value, str):
            text = value
        elif isinstance(value, dict):
            text = msgspec.json.encode(value, order="sorted").decode()
        else:
            text = msgspec.json.encode(value).decode()
        return self._tokenizer.token(text)
