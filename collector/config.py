"""Settings, read once at start-up from an optional TOML file and the environment.

The file (COLLECTOR_CONFIG=path.toml) can hold every setting, including the pipeline's
policies (PII rules, limits, bots, hot keys); the environment variables listed in the README
override the simple ones. Settings are frozen Structs that reject unknown fields, so a typo in
the file stops the collector at start-up instead of being ignored.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from collector.allocator import Allocator
from collector.envelope import Source

# librdkafka properties tuned for throughput with a durable acknowledgement. Each can be
# overridden with COLLECTOR_KAFKA_<PROPERTY> (dots as underscores), e.g.
# COLLECTOR_KAFKA_LINGER_MS=20 or COLLECTOR_KAFKA_SECURITY_PROTOCOL=SASL_SSL.
PRODUCER_DEFAULTS: dict[str, str] = {
    # Durability: the request is answered only after all in-sync replicas have the events,
    # and retries can neither duplicate nor reorder them within a partition.
    "acks": "all",
    "enable.idempotence": "true",
    # JSON events compress 5-10x; zstd level 1 costs about half of level 3 for a ratio
    # within a few percent of it.
    "compression.type": "zstd",
    "compression.level": "1",
    # Wait a little to fill large batches (librdkafka's default linger is 5 ms, its default
    # batch size 1 MB). Requests wait for delivery, so linger adds directly to their latency.
    "linger.ms": "5",
    "batch.size": "1000000",
    "batch.num.messages": "10000",
    # Room for bursts: up to 1M messages or 1 GiB queued before produce() refuses (503).
    "queue.buffering.max.messages": "1000000",
    "queue.buffering.max.kbytes": "1048576",
    # Keys land where Java clients, Kafka Streams and Flink put them (librdkafka's default
    # partitioner hashes with CRC32 and disagrees with them); keyless records stay sticky.
    "partitioner": "murmur2_random",
}

PiiAction = Literal["tokenize", "truncate_ip", "mask", "drop"]
Positive = Annotated[int, msgspec.Meta(gt=0)]

# Overrides that would make "2xx means in Kafka" untrue, and what they must be.
_DURABLE = {"acks": {"all", "-1"}, "enable.idempotence": {"true"}}


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Topics(_Section, frozen=True):
    """Where each stream goes. Invalid events go to `<topic>.dlq` of their stream."""

    web: str = "events.web"
    mobile: str = "events.mobile"
    server: str = "events.server"
    bots: str = "events.bots"


class Limits(_Section, frozen=True):
    """Per-event limits; an event over any of them is rejected to the DLQ with a reason."""

    # Segment's per-event limit.
    max_event_bytes: Positive = 32 * 1024
    # Longest string anywhere in the event, in characters.
    max_string_length: Positive = 8 * 1024
    # Most top-level keys in `properties` (and in `context`).
    max_properties: Positive = 256
    # Deepest nesting of objects and arrays inside `properties` or `context` (an object
    # there is at depth 1).
    max_depth: Positive = 10
    # Client timestamps further ahead of the server's clock than this are clamped to it.
    max_future_ms: Annotated[int, msgspec.Meta(ge=0)] = 60_000


class Bots(_Section, frozen=True):
    # "route": flagged events go to the bots topic with a `bot` header; "drop": they are
    # counted and not produced.
    action: Literal["route", "drop"] = "route"
    # A browser always sends a user agent; its absence on a web event is a script.
    flag_missing_user_agent: bool = True
    # Event rates far above what a person produces, counted over a sliding window.
    rate_window_s: Positive = 60
    # A busy office or mobile carrier NAT puts many people behind one address.
    max_events_per_ip: int = 6_000
    max_events_per_anonymous_id: int = 600


class Pii(_Section, frozen=True):
    # Field rules. Paths are dotted from the envelope (`user_id`, `context.ip`,
    # `properties.customer.email`); `*` matches one level and a leading `**.` matches the
    # name at any depth under `context`, `properties` and `traits`.
    rules: dict[str, PiiAction] = msgspec.field(
        default_factory=lambda: {
            "user_id": "tokenize",
            # alias: the identity merged into user_id, often an earlier user id.
            "previous_id": "tokenize",
            "**.email": "tokenize",
            "context.ip": "truncate_ip",
        }
    )
    # String values under these paths are scrubbed of emails, IP addresses, phone numbers
    # and card numbers (Luhn-checked).
    scrub_paths: list[str] = msgspec.field(
        default_factory=lambda: ["event", "properties", "traits", "context.page", "context.traits"]
    )
    # Key for tokens: COLLECTOR_PII_SECRET, or a file holding it (COLLECTOR_PII_SECRET_FILE).
    secret: str | None = None
    secret_file: str | None = None
    # Carried in the `pii_key_id` header so consumers know which key made a token. By
    # default a fingerprint of the secret, so rotating the secret changes it.
    key_id: str | None = None


class WriteKey(_Section, frozen=True):
    """What a write key's events are: its source configuration."""

    # A label for logs and metrics; the key itself never appears in either.
    name: str = "unnamed"
    # web, mobile or server; unset lets the client library (context.library.name) decide.
    source: Source | None = None
    # Overrides of the collector-wide tenant, topics and PII policy for this source.
    tenant: str | None = None
    topics: Topics | None = None
    pii: Pii | None = None
    # The quota: events per second, and how many may come at once.
    rate_per_s: Annotated[float, msgspec.Meta(gt=0)] = 5_000
    burst: Positive = 20_000


class HotKeys(_Section, frozen=True):
    # A key seen more often than this within the window is salted into `salts` sub-keys
    # (header `salt`), spreading one noisy entity over partitions at the cost of its order.
    max_events_per_key: int = 20_000
    window_s: Positive = 10
    salts: Positive = 8


class Settings(_Section, frozen=True):
    host: str = "127.0.0.1"
    port: int = 8080
    # "production" refuses to start without a PII secret; "development" uses a marked one.
    environment: Literal["production", "development"] = "production"
    # Carried in every record's `tenant` header.
    tenant: str = "default"
    # Kafka cluster to produce to.
    kafka_bootstrap: str = "127.0.0.1:9092"
    topics: Topics = Topics()
    # Partitions and replication of topics the collector creates (-1: broker default): the
    # activity topics, then the bots and dead-letter topics. Those two usually carry a small
    # share of the events, and librdkafka sends each partition's records in a produce request
    # of its own: a thin stream over many partitions makes many small requests. In the
    # benchmark's mix (3.5 % of events bot-flagged) 12 partitions for the bots topic cost 8 %
    # more CPU per event than 3 (docs/benchmarks.md, thirteenth round); the dead-letter
    # topics, thinner still, follow by the same reasoning. Keys keep their order on any
    # count; a hot key salted over hot_keys.salts sub-keys spreads over at most this many.
    topic_partitions: int = 12
    bots_topic_partitions: int = 3
    dlq_topic_partitions: int = 3
    topic_replication: int = -1
    # Create missing topics at start-up. Turn off where the collector's Kafka user may not
    # create topics; they must then exist already.
    create_topics: bool = True
    # Largest request body accepted, in bytes.
    max_body_bytes: int = 1024 * 1024
    # Ingest requests in flight at once (each may hold a decompressed body and waits for
    # Kafka); more get 503 with Retry-After.
    max_in_flight: Positive = 512
    # How long Kafka may take to acknowledge an event before it counts as failed.
    delivery_timeout_ms: int = 30_000
    # How long /readyz waits for broker metadata.
    ready_timeout_ms: int = 2_000
    # Seconds a client is told to wait (Retry-After) after a 503.
    retry_after_s: int = 1
    # Proxies whose X-Forwarded-For is believed for the client address (comma-separated).
    trusted_proxies: str = "127.0.0.1"
    # Write key -> source. Every ingest request needs one; production has none by default.
    write_keys: dict[str, WriteKey] = {}
    # Browser origins allowed to post (CORS), e.g. ["https://shop.example"].
    cors_origins: list[str] = []
    # Largest body after decompression (gzip, deflate, zstd), and zstd's largest window.
    max_decompressed_bytes: int = 10 * 1024 * 1024
    max_zstd_window_bytes: int = 8 * 1024 * 1024
    # Segment's own limit for a /v1/batch body.
    max_segment_batch_bytes: int = 500 * 1024
    limits: Limits = Limits()
    bots: Bots = Bots()
    pii: Pii = Pii()
    hot_keys: HotKeys = HotKeys()
    # Extra or overriding librdkafka producer properties.
    producer_overrides: dict[str, str | int | float | bool] = {}
    # The C allocator `collector serve` runs on (collector.allocator).
    allocator: Allocator = "jemalloc"

    def __post_init__(self) -> None:
        for field in ("topic_partitions", "bots_topic_partitions", "dlq_topic_partitions"):
            if getattr(self, field) == 0 or getattr(self, field) < -1:
                raise ConfigError(f"{field} must be at least 1, or -1 for the broker's default")
        for name, value in self.producer_overrides.items():
            text = str(value).lower()
            if name in _DURABLE and text not in _DURABLE[name]:
                raise ConfigError(
                    f"producer property {name}={value} would answer 2xx for events Kafka may "
                    "still lose; the collector needs acks=all and enable.idempotence=true"
                )
            if name in ("message.timeout.ms", "delivery.timeout.ms", "bootstrap.servers"):
                raise ConfigError(
                    f"set {name} through COLLECTOR_DELIVERY_TIMEOUT_MS or KAFKA_BOOTSTRAP"
                )

    def producer_config(self) -> dict[str, str]:
        config = dict(PRODUCER_DEFAULTS)
        config.update(
            {
                k: str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in self.producer_overrides.items()
            }
        )
        config["bootstrap.servers"] = self.kafka_bootstrap
        config["message.timeout.ms"] = str(self.delivery_timeout_ms)
        return config

    def for_key(self, key: WriteKey) -> Settings:
        """These settings with a write key's tenant, topics and PII policy in force."""
        return msgspec.structs.replace(
            self,
            tenant=key.tenant or self.tenant,
            topics=key.topics or self.topics,
            pii=key.pii or self.pii,
        )

    def topics_to_create(self) -> dict[str, int]:
        """Every topic the collector may produce to, write keys' own included, with the
        partitions it is created with. A name that is an activity topic anywhere gets the
        activity topics' count, then a bots topic the bots topics' (a count cannot be
        lowered later, and raising it moves keys)."""
        all_settings = [self, *(self.for_key(key) for key in self.write_keys.values())]
        streams = [
            name
            for settings in all_settings
            for name in (settings.topics.web, settings.topics.mobile, settings.topics.server)
        ]
        topics = dict.fromkeys(streams, self.topic_partitions)
        for settings in all_settings:
            topics.setdefault(settings.topics.bots, self.bots_topic_partitions)
        for name in streams:
            topics.setdefault(f"{name}.dlq", self.dlq_topic_partitions)
        return topics


# Environment variable -> dotted Settings field.
ENVIRONMENT: dict[str, str] = {
    "COLLECTOR_HOST": "host",
    "COLLECTOR_PORT": "port",
    "COLLECTOR_ENV": "environment",
    "COLLECTOR_TENANT": "tenant",
    "KAFKA_BOOTSTRAP": "kafka_bootstrap",
    "COLLECTOR_TOPIC_WEB": "topics.web",
    "COLLECTOR_TOPIC_MOBILE": "topics.mobile",
    "COLLECTOR_TOPIC_SERVER": "topics.server",
    "COLLECTOR_TOPIC_BOTS": "topics.bots",
    "COLLECTOR_TOPIC_PARTITIONS": "topic_partitions",
    "COLLECTOR_TOPIC_PARTITIONS_BOTS": "bots_topic_partitions",
    "COLLECTOR_TOPIC_PARTITIONS_DLQ": "dlq_topic_partitions",
    "COLLECTOR_TOPIC_REPLICATION": "topic_replication",
    "COLLECTOR_CREATE_TOPICS": "create_topics",
    "COLLECTOR_MAX_BODY_BYTES": "max_body_bytes",
    "COLLECTOR_MAX_IN_FLIGHT": "max_in_flight",
    "COLLECTOR_DELIVERY_TIMEOUT_MS": "delivery_timeout_ms",
    "COLLECTOR_READY_TIMEOUT_MS": "ready_timeout_ms",
    "COLLECTOR_RETRY_AFTER_S": "retry_after_s",
    "COLLECTOR_TRUSTED_PROXIES": "trusted_proxies",
    "COLLECTOR_BOT_ACTION": "bots.action",
    "COLLECTOR_PII_SECRET": "pii.secret",
    "COLLECTOR_PII_SECRET_FILE": "pii.secret_file",
    "COLLECTOR_PII_KEY_ID": "pii.key_id",
    "COLLECTOR_ALLOCATOR": "allocator",
}
# COLLECTOR_WRITE_KEYS="key:source,key2:source2" (source: web, mobile, server or any); the
# TOML file's [write_keys."<key>"] tables say more (tenant, topics, PII policy, quota).
WRITE_KEYS = "COLLECTOR_WRITE_KEYS"
# COLLECTOR_CORS_ORIGINS="https://a.example,https://b.example"
CORS_ORIGINS = "COLLECTOR_CORS_ORIGINS"
PRODUCER_PREFIX = "COLLECTOR_KAFKA_"
CONFIG_FILE = "COLLECTOR_CONFIG"


class ConfigError(ValueError):
    """The configuration is malformed or unsafe; the collector refuses to start."""


def from_environment(environ: Mapping[str, str] = os.environ, **overrides: object) -> Settings:
    """Settings from the TOML file, then environment variables; keyword overrides (CLI flags)
    win over both."""
    values: dict[str, Any] = {}
    if CONFIG_FILE in environ:
        path = Path(environ[CONFIG_FILE])
        try:
            values = msgspec.toml.decode(path.read_bytes())
        except (OSError, msgspec.DecodeError) as exc:
            raise ConfigError(f"cannot read {CONFIG_FILE}={path}: {exc}") from None
    for name, field in ENVIRONMENT.items():
        if name in environ:
            _set_dotted(values, field, environ[name])
    if environ.get(WRITE_KEYS):
        keys = values.setdefault("write_keys", {})
        if not isinstance(keys, dict):
            raise ConfigError("invalid configuration: write_keys must be a table")
        for index, entry in enumerate(environ[WRITE_KEYS].split(",")):
            key, _, source = entry.strip().partition(":")
            if not key:
                raise ConfigError(f"{WRITE_KEYS}: entry {index + 1} has no key")
            # Added to what the file says about the same key, not instead of it.
            entry_values = keys.setdefault(key, {})
            entry_values.setdefault("name", f"{source or 'any'}-{index + 1}")
            if source and source != "any":
                entry_values["source"] = source
    if CORS_ORIGINS in environ:
        values["cors_origins"] = [o.strip() for o in environ[CORS_ORIGINS].split(",") if o.strip()]
    producer = values.setdefault("producer_overrides", {})
    if not isinstance(producer, dict):
        raise ConfigError("invalid configuration: producer_overrides must be a table")
    for name, value in environ.items():
        if name.startswith(PRODUCER_PREFIX):
            producer[name[len(PRODUCER_PREFIX) :].lower().replace("_", ".")] = value
    for field, override in overrides.items():
        if override is not None:
            _set_dotted(values, field, override)
    try:
        # strict=False turns "8080" into 8080 and "false" into False, and still rejects "eighty".
        return msgspec.convert(values, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None


def _set_dotted(values: dict[str, Any], dotted: str, value: object) -> None:
    *sections, name = dotted.split(".")
    target = values
    for section in sections:
        target = target.setdefault(section, {})
        if not isinstance(target, dict):
            raise ConfigError(f"invalid configuration: {section} must be a table")
    target[name] = value
