"""Raw event bytes to an `Activity` envelope, or a rejection with a reason.

Each event is decoded on its own, so one malformed event is rejected (to the DLQ) while its
siblings go on. Normalizing fills what the client left out (event id, times, source, the
client's address), corrects clock skew and enforces the per-event limits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import msgspec

from collector import timestamps
from collector.config import Limits
from collector.envelope import Activity, EventType, SegmentEvent, Source, TrackEvent
from collector.nesting import MAX_DECODE_DEPTH, nests_deeper_than, tree_violation

_decode_event = msgspec.json.Decoder(TrackEvent).decode
_decode_segment = msgspec.json.Decoder(SegmentEvent).decode
_decode_object = msgspec.json.Decoder(dict[str, Any] | None).decode

# Substrings of `context.library.name` that mean a phone or tablet app.
_MOBILE_LIBRARIES = ("ios", "android", "react-native", "flutter", "kotlin", "swift", "xamarin")
# ... and that mean a server-side library.
_SERVER_LIBRARIES = (
    "analytics-python", "analytics-node", "analytics-go", "analytics-java", "analytics-ruby",
    "analytics-php", "analytics.net", "rudder-sdk-python", "rudder-sdk-node", "rudder-sdk-go",
    "rudder-sdk-java", "rudder-sdk-ruby", "rudder-sdk-php",
)  # fmt: skip


class Rejected(Exception):
    """The event cannot be accepted; `reason` is a stable code, `detail` says why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Received(msgspec.Struct, frozen=True, kw_only=True):
    """What the server knows about a batch besides its events."""

    received_ms: int
    # The batch's own `sent_at`, parsed; an event's `sent_at` wins over it.
    sent_ms: int | None = None
    # The client's address (after trusted proxies) and User-Agent header.
    client_ip: str | None = None
    user_agent: str | None = None
    # The source the write key says, when there is one; else the client library decides.
    source: Source | None = None
    # How the events are spelled: the collector's own /track fields, or Segment's API.
    dialect: Literal["track", "segment"] = "track"
    # The type of an event that names none (Segment's /v1/page implies "page").
    default_type: EventType = "track"


def decode_event(raw: bytes, received: Received) -> TrackEvent:
    """One event in the collector's own field names, whatever dialect it came in."""
    if received.dialect == "track":
        return _decode_event(raw)
    segment = _decode_segment(raw)
    context = segment.context
    if context is not None and "userAgent" in context and "user_agent" not in context:
        context["user_agent"] = context.pop("userAgent")
    return TrackEvent(
        type=segment.type or received.default_type,
        event=segment.event if segment.event is not None else segment.name,
        event_id=segment.message_id,
        user_id=segment.user_id,
        anonymous_id=segment.anonymous_id,
        timestamp=segment.timestamp,
        sent_at=segment.sent_at,
        context=context,
        properties=segment.properties,
        traits=segment.traits,
        group_id=segment.group_id,
        previous_id=segment.previous_id,
    )


def normalize(
    raw: bytes,
    received: Received,
    limits: Limits,
    new_id: Callable[[], str],
    pass_properties: bool = False,
) -> Activity:
    """The event's envelope, or Rejected.

    With `pass_properties` (no PII rule can touch them), `properties` keep the client's bytes:
    decoded only to check the limits, never re-encoded.
    """
    if len(raw) > limits.max_event_bytes:
        raise Rejected(
            "event_too_large", f"{len(raw)} bytes; the limit is {limits.max_event_bytes}"
        )
    if nests_deeper_than(bytes(raw)):
        raise Rejected("too_deep", f"the event nests deeper than {MAX_DECODE_DEPTH} levels")
    try:
        event = decode_event(raw, received)
    except msgspec.ValidationError as exc:
        raise Rejected("invalid_field", str(exc)) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        # msgspec reports invalid UTF-8 in a string as UnicodeDecodeError.
        raise Rejected("invalid_json", str(exc)) from None
    if event.type == "track" and not event.event:
        raise Rejected("missing_event", 'a "track" event needs a non-empty "event" name')

    context = event.context if event.context is not None else {}
    traits = event.traits if event.traits is not None else {}
    try:
        properties = _decode_properties(event.properties)
    except msgspec.ValidationError as exc:
        raise Rejected("invalid_field", f"{exc} - at `$.properties`") from None
    except UnicodeDecodeError as exc:
        raise Rejected("invalid_json", f"{exc} - at `$.properties`") from None
    _check_limits(event, context, properties, traits, limits)

    try:
        client_ms = None if event.timestamp is None else timestamps.parse(event.timestamp)
        sent_ms = received.sent_ms if event.sent_at is None else timestamps.parse(event.sent_at)
    except timestamps.InvalidTimestamp as exc:
        raise Rejected("invalid_timestamp", str(exc)) from None
    ts, skew = timestamps.correct(client_ms, sent_ms, received.received_ms, limits.max_future_ms)

    source = received.source or source_of(context)
    if "ip" not in context and received.client_ip is not None:
        context["ip"] = received.client_ip
    # A browser posts for itself, so its User-Agent header is the user's; apps and servers
    # send their library's, which says nothing about the person.
    if source == "web" and "user_agent" not in context and received.user_agent is not None:
        context["user_agent"] = received.user_agent

    return Activity(
        event_id=event.event_id or new_id(),
        type=event.type,
        event=event.event,
        source=source,
        received_at=timestamps.format(received.received_ms),
        sent_at=None if sent_ms is None else timestamps.format(sent_ms),
        client_ts=None if client_ms is None else timestamps.format(client_ms),
        ts=timestamps.format(ts),
        skew_ms=skew,
        user_id=_identity(event.user_id),
        anonymous_id=_identity(event.anonymous_id),
        session_id=_identity(event.session_id),
        group_id=_identity(event.group_id),
        previous_id=_identity(event.previous_id),
        context=context,
        properties=event.properties if pass_properties and properties else properties,  # type: ignore[arg-type]
        traits=traits,
    )


def _decode_properties(raw: msgspec.Raw) -> dict[str, Any]:
    properties = _decode_object(raw)
    return {} if properties is None else properties


def source_of(context: dict[str, Any]) -> Source:
    """web, mobile or server, from the client library named in `context.library.name`."""
    library = context.get("library")
    name = library.get("name") if isinstance(library, dict) else None
    if isinstance(name, str):
        name = name.lower()
        if any(marker in name for marker in _SERVER_LIBRARIES):
            return "server"
        if any(marker in name for marker in _MOBILE_LIBRARIES):
            return "mobile"
    return "web"


def _identity(value: str | int | None) -> str | None:
    """Identities as strings; an empty one is no identity."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _check_limits(
    event: TrackEvent,
    context: dict[str, Any],
    properties: dict[str, Any],
    traits: dict[str, Any],
    limits: Limits,
) -> None:
    for name in (
        "event", "event_id", "user_id", "anonymous_id", "session_id", "group_id", "previous_id",
    ):  # fmt: skip
        value = getattr(event, name)
        if isinstance(value, str) and len(value) > limits.max_string_length:
            raise Rejected("string_too_long", f"{name} has {len(value)} characters")
    for name, tree in (("context", context), ("properties", properties), ("traits", traits)):
        if len(tree) > limits.max_properties:
            raise Rejected(
                "too_many_properties",
                f"{name} has {len(tree)} keys; the limit is {limits.max_properties}",
            )
        found = tree_violation(tree, name, 1, limits.max_depth, limits.max_string_length)
        if found is not None:
            raise Rejected(*found)
