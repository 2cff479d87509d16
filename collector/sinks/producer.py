"""A Kafka producer that reports per request, not per record: the twin of native/producer.pyx.

`send` hands over one request's records with a token; once librdkafka has reported on every
one of them, `poll` returns `(token, failed, error)` for that request, with the number of
records Kafka did not take and the first error's text. The native producer does the same on
librdkafka's C API without a Python call per record; this one, on confluent-kafka, is what
runs when the extension is not built or COLLECTOR_NATIVE=0, and the specification the
integration tests hold both to.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import Producer as _Client

from collector.pipeline import Record

logger = logging.getLogger(__name__)

# What `poll` returns for a finished request: (token, records not taken, first error text).
Report = tuple[object, int, str | None]


class Refused(Exception):
    """librdkafka refused a record outright (too large, unknown topic, ...)."""


class _Request:
    """The reports still due for one request; see `Producer.send`."""

    __slots__ = ("error", "failed", "finish", "lock", "pending", "token")

    def __init__(self, token: object, count: int, finish: Callable[[Report], None]) -> None:
        self.token = token
        # One more than the records: `send` holds it until every record is handed over, so
        # whoever counts the request down to zero finishes it, exactly once.
        self.pending = count + 1
        self.failed = 0
        self.error: str | None = None
        self.finish = finish
        self.lock = threading.Lock()

    def count_down(self, n: int) -> bool:
        with self.lock:
            self.pending -= n
            return self.pending == 0

    def report(self) -> Report:
        return (self.token, self.failed, self.error)

    def on_delivery(self, error: KafkaError | None, _message: object) -> None:
        # Runs on the thread serving reports.
        if error is not None:
            with self.lock:
                self.failed += 1
                self.error = self.error or error.str()
        if self.count_down(1):
            self.finish(self.report())


class Producer:
    def __init__(self, config: dict[str, str]) -> None:
        try:
            self._client = _Client(config)
        except KafkaException as exc:
            raise ValueError(f"Kafka producer: {exc.args[0].str()}") from None
        # Appended to by whichever thread serves reports, taken by `poll`.
        self._finished: list[Report] = []
        self._finished_lock = threading.Lock()
        # The pipe of `reports_fd`, and the thread that serves reports for it.
        self._signal: tuple[int, int] | None = None
        self._stopping = threading.Event()
        self._server: threading.Thread | None = None

    def send(self, records: Sequence[Record], token: object) -> Report | None:
        """Hand every record to librdkafka; their reports come back from `poll` with `token`.

        Returns None while reports are due, or the report itself when they all came back
        already. Raises BufferError when librdkafka's queue is full and Refused when it
        refuses a record; records handed over before that may still be delivered, and their
        reports are then dropped.
        """
        request = _Request(token, len(records), self._finish)
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
        """Serve delivery reports for up to `timeout_s`; the requests they finished.

        Once `reports_fd` has started this producer's own thread, that thread serves them
        and `poll` only takes what it finished.
        """
        if self._server is None:
            self._client.poll(timeout_s)
        return self._take_finished()

    def reports_fd(self) -> int:
        """A file descriptor that turns readable when delivery reports are waiting: read it
        empty, then `poll(0)`.

        confluent-kafka cannot have librdkafka signal a descriptor, as the native producer
        does, so a thread of this producer's serves the reports and writes to a pipe when
        a request finishes. Made on the first call; until then reports wait for `poll`.
        """
        if self._signal is None:
            self._signal = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            self._server = threading.Thread(target=self._serve, name="kafka-reports", daemon=True)
            self._server.start()
        return self._signal[0]

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                self._client.poll(0.1)
            except Exception:
                # The thread must outlive a bad report, or every later request times out.
                logger.exception("serving delivery reports failed")

    def _finish(self, report: Report) -> None:
        # On whichever thread serves the request's last report.
        with self._finished_lock:
            self._finished.append(report)
        if self._signal is not None:
            # A full pipe is readable already.
            with contextlib.suppress(BlockingIOError):
                os.write(self._signal[1], b"1")

    def _take_finished(self) -> list[Report]:
        with self._finished_lock:
            finished = self._finished[:]
            del self._finished[:]
        return finished

    def flush(self, timeout_s: float) -> int:
        """Wait up to `timeout_s` for every record to be delivered; how many remain.

        Reports served meanwhile are dropped: this is for shutdown, when no one waits.
        `reports_fd` signals no more reports after it (the native producer's would).
        """
        self._stopping.set()
        if self._server is not None:
            self._server.join()
        remaining: int = self._client.flush(timeout_s)
        self._take_finished()
        return remaining

    def __del__(self) -> None:
        # Not there when the client could not be made.
        signal = getattr(self, "_signal", None)
        if signal is not None:
            for fd in signal:
                os.close(fd)

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
