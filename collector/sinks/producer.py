"""A Kafka producer that reports per request, not per record: the twin of native/producer.pyx.

`send` hands over one request's records with a token; once librdkafka has reported on every
one of them, `poll` returns `(token, failed, error)` for that request, with the number of
records Kafka did not take and the first error's text. The native producer does the same on
librdkafka's C API without a Python call per record; this one, on confluent-kafka, is what
runs when the extension is not built or COLLECTOR_NATIVE=0, and the specification the
integration tests hold both to.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import Producer as _Client

from collector.pipeline import Record

# What `poll` returns for a finished request: (token, records not taken, first error text).
Report = tuple[object, int, str | None]


class Refused(Exception):
    """librdkafka refused a record outright (too large, unknown topic, ...)."""


class _Request:
    """The reports still due for one request; see `Producer.send`."""

    __slots__ = ("error", "failed", "finished", "lock", "pending", "token")

    def __init__(self, token: object, count: int, finished: list[Report]) -> None:
        self.token = token
        # One more than the records: `send` holds it until every record is handed over, so
        # whoever counts the request down to zero finishes it, exactly once.
        self.pending = count + 1
        self.failed = 0
        self.error: str | None = None
        self.finished = finished
        self.lock = threading.Lock()

    def count_down(self, n: int) -> bool:
        with self.lock:
            self.pending -= n
            return self.pending == 0

    def report(self) -> Report:
        return (self.token, self.failed, self.error)

    def on_delivery(self, error: KafkaError | None, _message: object) -> None:
        # Runs on the thread calling poll.
        if error is not None:
            self.failed += 1
            self.error = self.error or error.str()
        if self.count_down(1):
            self.finished.append(self.report())


class Producer:
    def __init__(self, config: dict[str, str]) -> None:
        try:
            self._client = _Client(config)
        except KafkaException as exc:
            raise ValueError(f"Kafka producer: {exc.args[0].str()}") from None
        self._finished: list[Report] = []

    def send(self, records: Sequence[Record], token: object) -> Report | None:
        """Hand every record to librdkafka; their reports come back from `poll` with `token`.

        Returns None while reports are due, or the report itself when they all came back
        already. Raises BufferError when librdkafka's queue is full and Refused when it
        refuses a record; records handed over before that may still be delivered, and their
        reports are then dropped.
        """
        request = _Request(token, len(records), self._finished)
        produce = self._client.produce
        on_delivery = request.on_delivery
        handed = 0
        try:
            for topic, key, value, headers in records:
                # confluent-kafka takes headers as a list (or a dict), not a tuple.
                produce(topic, value, key, headers=list(headers), on_delivery=on_delivery)
                handed += 1
        except KafkaException as exc:
            request.count_down(len(records) - handed + 1)
            raise Refused(exc.args[0].str()) from None
        except BaseException:
            request.count_down(len(records) - handed + 1)
            raise
        return request.report() if request.count_down(1) else None

    def poll(self, timeout_s: float) -> list[Report]:
        """Serve delivery reports for up to `timeout_s`; the requests they finished."""
        self._client.poll(timeout_s)
        return self._take_finished()

    def _take_finished(self) -> list[Report]:
        # Only the polling thread appends, and only while inside poll or flush.
        finished = self._finished[:]
        del self._finished[:]
        return finished

    def flush(self, timeout_s: float) -> int:
        """Wait up to `timeout_s` for every record to be delivered; how many remain.

        Reports served meanwhile are dropped: this is for shutdown, when no one waits.
        """
        remaining: int = self._client.flush(timeout_s)
        self._take_finished()
        return remaining

    def has_brokers(self, timeout_s: float) -> bool:
        """Whether broker metadata comes back within `timeout_s` (blocking)."""
        try:
            metadata = self._client.list_topics(timeout=timeout_s)
        except KafkaException:
            return False
        return bool(metadata.brokers)

    def __len__(self) -> int:
        """Records handed over and not yet reported."""
        return len(self._client)
