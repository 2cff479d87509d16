"""The Kafka sink: one producer per process, and the delivery contract.

`send` hands a request's records to librdkafka and returns only when Kafka has acknowledged
every one of them (acks=all), or raises an Unavailable error: never success for an event
that may still be lost.

The producer (collector.native.Producer: librdkafka's C API, or its confluent-kafka twin)
counts delivery reports per request. The event loop serves them itself, without blocking:
the producer signals a file descriptor when reports are waiting (the native one has
librdkafka write to it), and the loop then takes the finished requests and settles their
futures. With the native producer no thread sits between librdkafka's and the loop's, to be
woken and to take the GIL once per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import cast

from confluent_kafka import KafkaError, KafkaException

# NewTopic is re-exported by confluent_kafka.admin without being listed in its __all__.
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from prometheus_client import Counter

from collector import native
from collector.config import Settings
from collector.errors import DeliveryFailed, DeliveryTimedOut, QueueFull
from collector.metrics import Metrics
from collector.pipeline import Record
from collector.sinks.producer import Refused

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


class _Waiter:
    """A request waiting for its delivery reports: the token it hands to the producer."""

    __slots__ = ("future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[tuple[int, str | None]] = loop.create_future()

    def settle(self, failed: int, error: str | None) -> None:
        # The request may have timed out or been cancelled already.
        if not self.future.done():
            self.future.set_result((failed, error))

    def expire(self) -> None:
        if not self.future.done():
            self.future.set_exception(TimeoutError())


class KafkaSink:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._producer = native.Producer(settings.producer_config())
        # The loop serving delivery reports, between start and close.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reports_fd = -1
        self._wait_s = settings.delivery_timeout_ms / 1000 + _REPORT_GRACE_S
        metrics.producer_queue.set_function(lambda: len(self._producer))

    def start(self) -> None:
        """Serve delivery reports on the running event loop, which `send` must run on."""
        self._loop = asyncio.get_running_loop()
        self._reports_fd = self._producer.reports_fd()
        self._loop.add_reader(self._reports_fd, self._serve_reports)

    def _serve_reports(self) -> None:
        # Read before polling: a report queued after the poll signals again.
        with contextlib.suppress(BlockingIOError):
            os.read(self._reports_fd, 4096)
        try:
            reports = self._producer.poll(0)
        except Exception:
            logger.exception("serving delivery reports failed")
            return
        for token, failed, error in reports:
            try:
                cast(_Waiter, token).settle(failed, error)
            except Exception:
                # One request that cannot be settled must not cost the others their reports.
                logger.exception("delivery report handling failed")

    @property
    def serving_reports(self) -> bool:
        return self._loop is not None

    async def send(self, records: Sequence[Record], per_topic: Mapping[str, int]) -> None:
        """Produce `records` and wait until Kafka has acknowledged all of them.

        `per_topic` counts the records by topic (the pipeline's count, for the metrics: by
        the time the reports are in, the records are no longer in the CPU's caches).
        """
        if not records:
            return
        retry_after = self._settings.retry_after_s
        waiter = _Waiter(asyncio.get_running_loop())
        started = time.perf_counter()
        try:
            report = self._producer.send(records, waiter)
        except BufferError:
            # Records queued before the queue filled may still be delivered; the client
            # retries the whole batch and consumers deduplicate by event id.
            self._count(self._metrics.records_failed, per_topic, "queue_full")
            raise QueueFull("the collector's Kafka queue is full", retry_after) from None
        except Refused as exc:
            self._count(self._metrics.records_failed, per_topic, "refused")
            raise DeliveryFailed(f"Kafka's client refused a record: {exc}", retry_after) from None
        if report is None:
            # A timer on the waiter itself rather than wait_for(shield(...)): no second
            # future and no timeout wrapper per request, the same answer when reports never
            # come.
            timer = waiter.loop.call_later(self._wait_s, waiter.expire)
            try:
                failed, error = await waiter.future
            except TimeoutError:
                self._count(self._metrics.records_failed, per_topic, "timeout")
                raise DeliveryTimedOut(
                    "Kafka did not acknowledge the events in time", retry_after
                ) from None
            finally:
                timer.cancel()
        else:
            _, failed, error = report
        self._metrics.delivery_seconds.observe(time.perf_counter() - started)
        if failed:
            self._count(self._metrics.records_failed, per_topic, "delivery")
            raise DeliveryFailed(
                f"Kafka did not take {failed} of {len(records)} events: {error}",
                retry_after,
            )
        self._count(self._metrics.records_produced, per_topic)

    def _count(self, counter: Counter, per_topic: Mapping[str, int], *labels: str) -> None:
        for topic, count in per_topic.items():
            self._metrics.series(counter, topic, *labels).inc(count)

    def ensure_topics(self, topics: Mapping[str, int], timeout_s: float = 30.0) -> None:
        """Create the topics that do not exist yet: name -> partitions, replicated as
        configured. Existing topics are left as they are."""
        admin = AdminClient(self._admin_config())
        wanted = [
            NewTopic(
                name,
                num_partitions=partitions,
                replication_factor=self._settings.topic_replication,
            )
            for name, partitions in sorted(topics.items())
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
        return self._producer.has_brokers(self._settings.ready_timeout_ms / 1000)

    async def close(self, timeout_s: float = 30.0) -> int:
        """Stop serving reports, deliver what is queued; return how many records remain.

        Runs once the server has answered every request. The flush serves what reports
        remain on a thread of its own, so the loop must stop serving them first: the
        producer's finished requests are taken by one thread at a time.
        """
        if self._loop is not None:
            self._loop.remove_reader(self._reports_fd)
            self._loop = None
        remaining: int = await asyncio.to_thread(self._producer.flush, timeout_s)
        if remaining:
            logger.error("%d records were not delivered before shutdown", remaining)
        return remaining

    def _admin_config(self) -> dict[str, str | int | float | bool]:
        config = self._settings.producer_config()
        return {k: v for k, v in config.items() if k not in _PRODUCER_ONLY}
