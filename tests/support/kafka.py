"""Reading back what the collector produced, from the real broker."""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def bootstrap() -> str:
    return os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")


def unique_topic(prefix: str = "test") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Consumed:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


def consume_all(topic: str, timeout_s: float = 30.0, idle_s: float = 1.0) -> list[Consumed]:
    """Every record on `topic`, read from the start until the end offsets of all partitions."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap(),
            "group.id": f"test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = sorted(metadata.topics[topic].partitions)
        ends = {}
        for p in partitions:
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        pending = {p for p in partitions if ends[p] > 0}
        records: list[Consumed] = []
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            message = consumer.poll(idle_s)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise RuntimeError(error.str())
            records.append(
                Consumed(
                    topic=message.topic(),
                    partition=message.partition(),
                    offset=message.offset(),
                    key=message.key(),
                    value=message.value(),
                    headers=tuple(message.headers() or ()),
                )
            )
            if message.offset() + 1 >= ends[message.partition()]:
                pending.discard(message.partition())
        if pending:
            raise TimeoutError(f"partitions {sorted(pending)} of {topic} not read to the end")
        return records
    finally:
        consumer.close()


def partition_count(topic: str) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap()})
    return len(admin.list_topics(topic, timeout=10).topics[topic].partitions)


def create_topic(topic: str, partitions: int = 1, config: dict[str, str] | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap()})
    new = NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})
    admin.create_topics([new])[topic].result(timeout=30)


def delete_topics(prefix: str) -> None:
    """Delete every topic whose name starts with `prefix`: a broker that keeps every run's
    partitions spends more CPU per event with each run (twice as much at 9,000 partitions),
    which slows later tests and makes later benchmarks look slower than earlier ones."""
    admin = AdminClient({"bootstrap.servers": bootstrap()})
    names = [name for name in admin.list_topics(timeout=10).topics if name.startswith(prefix)]
    if names:
        for future in admin.delete_topics(names, operation_timeout=30).values():
            future.result(60)
