"""Settings, read once from the environment at start-up.

Every setting has an environment variable (listed in the README) and a default chosen for a
single local broker. Settings are a frozen Struct: nothing changes them after start-up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec

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


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8080
    # Kafka cluster to produce to.
    kafka_bootstrap: str = "127.0.0.1:9092"
    # Topic for web activity events, and how topics the collector creates are laid out.
    topic_web: str = "events.web"
    topic_partitions: int = 12
    # -1: the broker's default.replication.factor.
    topic_replication: int = -1
    # Create missing topics at start-up. Turn off where the collector's Kafka user may not
    # create topics; they must then exist already.
    create_topics: bool = True
    # Largest request body accepted, in bytes.
    max_body_bytes: int = 1024 * 1024
    # How long Kafka may take to acknowledge an event before it counts as failed.
    delivery_timeout_ms: int = 30_000
    # How long /readyz waits for broker metadata.
    ready_timeout_ms: int = 2_000
    # Seconds a client is told to wait (Retry-After) after a 503.
    retry_after_s: int = 1
    # Extra or overriding librdkafka producer properties.
    producer_overrides: dict[str, str] = {}

    def producer_config(self) -> dict[str, str]:
        config = dict(PRODUCER_DEFAULTS)
        config.update(self.producer_overrides)
        config["bootstrap.servers"] = self.kafka_bootstrap
        config["message.timeout.ms"] = str(self.delivery_timeout_ms)
        return config


# Environment variable -> Settings field.
ENVIRONMENT: dict[str, str] = {
    "COLLECTOR_HOST": "host",
    "COLLECTOR_PORT": "port",
    "KAFKA_BOOTSTRAP": "kafka_bootstrap",
    "COLLECTOR_TOPIC_WEB": "topic_web",
    "COLLECTOR_TOPIC_PARTITIONS": "topic_partitions",
    "COLLECTOR_TOPIC_REPLICATION": "topic_replication",
    "COLLECTOR_CREATE_TOPICS": "create_topics",
    "COLLECTOR_MAX_BODY_BYTES": "max_body_bytes",
    "COLLECTOR_DELIVERY_TIMEOUT_MS": "delivery_timeout_ms",
    "COLLECTOR_READY_TIMEOUT_MS": "ready_timeout_ms",
    "COLLECTOR_RETRY_AFTER_S": "retry_after_s",
}
PRODUCER_PREFIX = "COLLECTOR_KAFKA_"


class ConfigError(ValueError):
    """A setting in the environment is malformed; the collector refuses to start."""


def from_environment(environ: Mapping[str, str] = os.environ, **overrides: object) -> Settings:
    """Settings from environment variables; keyword overrides (e.g. CLI flags) win."""
    values: dict[str, object] = {
        field: environ[name] for name, field in ENVIRONMENT.items() if name in environ
    }
    values["producer_overrides"] = {
        name[len(PRODUCER_PREFIX) :].lower().replace("_", "."): value
        for name, value in environ.items()
        if name.startswith(PRODUCER_PREFIX)
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        # strict=False turns "8080" into 8080 and rejects "eighty".
        return msgspec.convert(values, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None
