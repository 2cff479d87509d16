"""The event envelope: what clients send (`TrackEvent`) and what consumers read (`Activity`).

`Activity` is the contract with every consumer of the Kafka topics. Its JSON Schema is
generated into `schemas/` (python -m collector.schemas) and a test refuses any change that
is not backward compatible: fields may be added only as optional, never removed, renamed or
retyped.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

SCHEMA_VERSION = "activity.v1"

EventType = Literal["track", "page", "screen", "identify", "group", "alias"]
Source = Literal["web", "mobile", "server"]


class TrackEvent(msgspec.Struct, kw_only=True):
    """One event as a client posts it to /track (snake_case). Unknown top-level fields are
    ignored; custom data belongs in `properties`."""

    type: EventType = "track"
    event: str | None = None
    # The client's own id for the event; kept so consumers can deduplicate retries.
    event_id: str | None = None
    user_id: str | int | None = None
    anonymous_id: str | int | None = None
    session_id: str | int | None = None
    # When the event happened, by the client's clock: ISO-8601 or epoch milliseconds.
    timestamp: str | int | None = None
    # When the client sent it, by the same clock; overrides the batch's `sent_at`.
    sent_at: str | int | None = None
    context: dict[str, Any] | None = None
    # Kept as raw JSON: when no PII rule can touch them, they pass through byte for byte.
    properties: msgspec.Raw = msgspec.Raw(b"null")
    # identify and group: what is known about the user or the group.
    traits: dict[str, Any] | None = None
    # group: the group joined; alias: the identity being merged into user_id.
    group_id: str | int | None = None
    previous_id: str | int | None = None


class SegmentEvent(msgspec.Struct, kw_only=True, rename="camel"):
    """One event in Segment's HTTP API shape (camelCase), as its libraries send it.

    `integrations` (Segment's destination switches) means nothing here and is ignored.
    """

    type: EventType | None = None
    event: str | None = None
    # page and screen calls name the page here.
    name: str | None = None
    message_id: str | None = None
    user_id: str | int | None = None
    anonymous_id: str | int | None = None
    timestamp: str | int | None = None
    sent_at: str | int | None = None
    context: dict[str, Any] | None = None
    properties: msgspec.Raw = msgspec.Raw(b"null")
    traits: dict[str, Any] | None = None
    group_id: str | int | None = None
    previous_id: str | int | None = None


class TrackBatch(msgspec.Struct, kw_only=True):
    """The object form of a /track body; the array form carries only the events."""

    batch: list[msgspec.Raw]
    sent_at: str | int | None = None


class SegmentBatch(msgspec.Struct, kw_only=True, rename="camel"):
    """The body of Segment's /v1/batch."""

    batch: list[msgspec.Raw]
    sent_at: str | int | None = None


class Activity(msgspec.Struct, kw_only=True):
    """activity.v1: one user-activity event as produced to Kafka.

    Times are ISO-8601 UTC with milliseconds. `ts` is the best estimate of when the event
    happened: the client's time corrected by `skew_ms`, clamped when implausible.
    Identity fields are in their tokenized form where the PII policy says so.
    """

    event_id: str
    kind: Literal["activity"] = "activity"
    type: EventType
    event: str | None = None
    source: Source
    received_at: str
    sent_at: str | None = None
    client_ts: str | None = None
    ts: str
    # received_at - sent_at in milliseconds: what was added to the client's clock.
    skew_ms: int | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    session_id: str | None = None
    group_id: str | None = None
    previous_id: str | None = None
    context: dict[str, Any] = {}
    # An object; at run time possibly a msgspec.Raw holding the client's object unchanged.
    properties: dict[str, Any] = {}
    traits: dict[str, Any] = {}
