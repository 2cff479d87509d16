"""The event pipeline: raw events of one batch in, Kafka records out.

    normalize -> bots -> pii -> keying -> encode

Stages are plain functions and objects over `Activity` envelopes; none of them knows HTTP or
Kafka. This module is the specification of the native hot path, which must produce the same
records byte for byte. Every event ends up in exactly one place: a stream topic, the bots
topic (or counted as dropped when bots are dropped), or the DLQ with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import msgspec
import uuid_utils

from collector.bots import BotDetector
from collector.config import Settings
from collector.envelope import SCHEMA_VERSION
from collector.keying import HotKeySalter, choose_key
from collector.normalize import Received, Rejected, normalize
from collector.pii import PiiPolicy, scrub_text

DLQ_VALUE_BYTES = 16 * 1024


Headers = tuple[tuple[str, bytes], ...]


class Record(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes
    # A tuple, so that records of one event type can share one (most records have no
    # header of their own).
    headers: Headers


class Rejection(msgspec.Struct, frozen=True):
    index: int
    reason: str
    detail: str


class Outcome(msgspec.Struct, kw_only=True):
    # A list here; the native pipeline's is its Records, one buffer for the whole batch,
    # which has a length, indices and iteration (no slices, and no == with a list).
    records: Sequence[Record]
    rejected: list[Rejection]
    # Counts are plain dicts rather than Counters, which cost a Python-level __init__ each
    # per request. How many of the records go to each topic, for the sink's metrics:
    per_topic: dict[str, int] = msgspec.field(default_factory=dict)
    # Events accepted: produced to a stream or the bots topic, or dropped as bots by policy.
    accepted: int = 0
    # Bot events by reason.
    bots: dict[str, int] = msgspec.field(default_factory=dict)
    bots_dropped: int = 0
    salted: int = 0


def new_event_id() -> str:
    """A UUIDv7: time-ordered, so ids made close together sort and index well."""
    return str(uuid_utils.uuid7())


class Pipeline:
    def __init__(
        self, settings: Settings, secret: bytes, new_id: Callable[[], str] = new_event_id
    ) -> None:
        self.settings = settings
        self.new_id = new_id
        self.bots = BotDetector(settings.bots)
        self.pii = PiiPolicy(settings.pii, secret)
        self.hot_keys = HotKeySalter(settings.hot_keys)
        # Without PII rules for them, properties pass through as the client's bytes.
        self._pass_properties = not self.pii.touches_properties
        self._encode = msgspec.json.Encoder().encode
        self._topics = {
            "web": settings.topics.web,
            "mobile": settings.topics.mobile,
            "server": settings.topics.server,
        }
        self._common = (
            ("schema", SCHEMA_VERSION.encode()),
            ("tenant", settings.tenant.encode()),
            ("pii_key_id", self.pii.key_id.encode()),
        )

    def process(self, events: Sequence[bytes], received: Received) -> Outcome:
        records: list[Record] = []
        outcome = Outcome(records=records, rejected=[])
        now = received.received_ms
        dlq = self._topics[received.source or "web"] + ".dlq"
        for index, raw in enumerate(events):
            try:
                event = normalize(
                    raw, received, self.settings.limits, self.new_id, self._pass_properties
                )
            except Rejected as rejected:
                outcome.rejected.append(Rejection(index, rejected.reason, rejected.detail))
                records.append(self._dead_letter(dlq, bytes(raw), rejected, received))
                outcome.per_topic[dlq] = outcome.per_topic.get(dlq, 0) + 1
                continue
            outcome.accepted += 1
            bot = self.bots.verdict(event, now)
            if bot is not None:
                outcome.bots[bot] = outcome.bots.get(bot, 0) + 1
                if self.settings.bots.action == "drop":
                    outcome.bots_dropped += 1
                    continue
            self.pii.apply(event)
            headers: Headers = (*self._common, ("event_type", event.type.encode()))
            key = choose_key(event)
            if key is not None:
                key, salt = self.hot_keys.salt(key, now)
                if salt is not None:
                    outcome.salted += 1
                    headers += (("salt", str(salt).encode()),)
            if bot is not None:
                headers += (("bot", bot.encode()),)
                topic = self.settings.topics.bots
            else:
                topic = self._topics[event.source]
            records.append(Record(topic, key, self._encode(event), headers))
            outcome.per_topic[topic] = outcome.per_topic.get(topic, 0) + 1
        return outcome

    def _dead_letter(
        self, topic: str, raw: bytes, rejected: Rejected, received: Received
    ) -> Record:
        # The original event, redacted (the DLQ is for debugging clients, and must not become
        # the one topic where raw ids, emails and card numbers live), and cut to its first
        # DLQ_VALUE_BYTES: a rejected event may be far larger than Kafka takes.
        value = self.pii.redact(raw).encode()[:DLQ_VALUE_BYTES]
        headers = (
            ("tenant", self.settings.tenant.encode()),
            ("original_bytes", str(len(raw)).encode()),
            ("error", rejected.reason.encode()),
            ("error_detail", scrub_text(rejected.detail).encode()),
            ("received_at_ms", str(received.received_ms).encode()),
        )
        return Record(topic, None, value, headers)
