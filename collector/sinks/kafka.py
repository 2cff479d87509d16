"""The Kafka sink: one confluent-kafka producer per process, and the delivery contract.

`send` hands a request's records to librdkafka and returns only when Kafka has acknowledged
every one of them (acks=all), or raises an Unavailable error: never success for an event
that may still be lost.

Delivery reports are served by a dedicated thread calling `poll`, so the event loop never
blocks on librdkafka. Each report only bumps a counter on its request; the request's future
is woken once, with one thread-safe call, when the last report arrives.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Iterable, Sequence

from confluent_kafka import KafkaError, KafkaException, Producer

# NewTopic is re-exported by confluent_kafka.admin without being listed in its __all__.
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from prometheus_client import Counter

from collector.config import Settings
from collector.errors import DeliveryFailed, DeliveryTimedOut, QueueFull
from collector.metrics import Metrics
from collector.pipeline import Record

logger = logging.getLogger(__name__)

# Extra time, beyond librdkafka's own message timeout, that a request waits for its reports.
_REPORT_GRACE_S = 5.0

# Producer properties the admin client does not know; it would warn about each.
_PRODUCER_ONLY = frozenset(
    {
        "acks",
        "enable.idempotence",
        "compression.type",
        "compression.level",
        "linger.ms",
        "batch.size",
        "batch.num.messages",
        "queue.buffering.max.messages",
        "queue.buffering.max.kbytes",
        "partitioner",
        "message.timeout.ms",
    }
)


class _Delivery:
    """Delivery reports of one request, counted on the poll thread.

    Only the poll thread increments `delivered`; only the event loop writes `expected` (once
    every record is queued). Whichever side sees the two meet wakes the waiter; a second
    wake-up is harmless.
    """

    __slots__ = ("delivered", "error", "expected", "failed", "future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.delivered = 0
        self.failed = 0
        self.error: KafkaError | None = None
        self.expected: int | None = None

    def on_delivery(self, error: KafkaError | None, _message: object) -> None:
        # Runs on the poll thread.
        if error is not None:
            self.failed += 1
            self.error = error
        self.delivered += 1
        if self.delivered == self.expected:
            self.loop.call_soon_threadsafe(self._wake)

    def all_queued(self, count: int) -> None:
        # Runs on the event loop.
        self.expected = count
        if self.delivered == count:
            self._wake()

    def _wake(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


class KafkaSink:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._producer = Producer(settings.producer_config())
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="kafka-delivery", daemon=True)
        self._wait_s = settings.delivery_timeout_ms / 1000 + _REPORT_GRACE_S
        metrics.producer_queue.set_function(lambda: len(self._producer))

    def start(self) -> None:
        self._poller.start()

    def _poll(self) -> None:
        while not self._stopping.is_set():
            try:
                self._producer.poll(0.1)
            except Exception:
                # A report that cannot wake its request (its loop gone at shutdown) must not
                # stop the reports of every other request.
                logger.exception("delivery report handling failed")

    @property
    def serving_reports(self) -> bool:
        return self._poller.is_alive()

    async def send(self, records: Sequence[Record]) -> None:
        """Produce `records` and wait until Kafka has acknowledged all of them."""
        if not records:
            return
        retry_after = self._settings.retry_after_s
        delivery = _Delivery(asyncio.get_running_loop())
        produce = self._producer.produce
        on_delivery = delivery.on_delivery
        started = time.perf_counter()
        queued = 0
        try:
            for topic, key, value, headers in records:
                # The stub's list[tuple[str, str | bytes | None]] is invariant; bytes is fine.
                produce(topic, value, key, headers=headers, on_delivery=on_delivery)  # type: ignore[arg-type]
                queued += 1
        except BufferError:
            # Records queued before the queue filled may still be delivered; the client
            # retries the whole batch and consumers deduplicate by event id.
            delivery.all_queued(queued)
            self._count(self._metrics.records_failed, records, "queue_full")
            raise QueueFull("the collector's Kafka queue is full", retry_after) from None
        except KafkaException as exc:
            # librdkafka refused a record outright (too large, unknown topic, ...).
            delivery.all_queued(queued)
            self._count(self._metrics.records_failed, records, "refused")
            raise DeliveryFailed(
                f"Kafka's client refused a record: {exc.args[0].str()}", retry_after
            ) from None
        delivery.all_queued(queued)
        try:
            await asyncio.wait_for(asyncio.shield(delivery.future), self._wait_s)
        except TimeoutError:
            self._count(self._metrics.records_failed, records, "timeout")
            raise DeliveryTimedOut(
                "Kafka did not acknowledge the events in time", retry_after
            ) from None
        self._metrics.delivery_seconds.observe(time.perf_counter() - started)
        if delivery.failed:
            self._count(self._metrics.records_failed, records, "delivery")
            reason = delivery.error.str() if delivery.error is not None else "unknown error"
            raise DeliveryFailed(
                f"Kafka did not take {delivery.failed} of {len(records)} events: {reason}",
                retry_after,
            )
        self._count(self._metrics.records_produced, records)

    @staticmethod
    def _count(counter: Counter, records: Sequence[Record], *labels: str) -> None:
        for topic, count in collections.Counter(record.topic for record in records).items():
            counter.labels(topic, *labels).inc(count)

    def ensure_topics(self, topics: Iterable[str], timeout_s: float = 30.0) -> None:
        """Create the topics that do not exist yet, with the configured layout."""
        admin = AdminClient(self._admin_config())
        wanted = [
            NewTopic(
                name,
                num_partitions=self._settings.topic_partitions,
                replication_factor=self._settings.topic_replication,
            )
            for name in sorted(set(topics))
        ]
        futures = admin.create_topics(wanted, request_timeout=timeout_s)
        for name, future in futures.items():
            try:
                future.result(timeout=timeout_s)
                logger.info("created topic %s", name)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise

    def ready(self) -> bool:
        """Whether broker metadata can be fetched now (blocking; call it off the loop)."""
        try:
            metadata = self._producer.list_topics(timeout=self._settings.ready_timeout_ms / 1000)
        except KafkaException:
            return False
        return bool(metadata.brokers)

    def close(self, timeout_s: float = 30.0) -> int:
        """Deliver what is queued, stop the poll thread; return how many records remain."""
        self._stopping.set()
        if self._poller.is_alive():
            self._poller.join()
        remaining: int = self._producer.flush(timeout_s)
        if remaining:
            logger.error("%d records were not delivered before shutdown", remaining)
        return remaining

    def _admin_config(self) -> dict[str, str | int | float | bool]:
        config = self._settings.producer_config()
        return {k: v for k, v in config.items() if k not in _PRODUCER_ONLY}
