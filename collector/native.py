"""The hot path: the compiled modules when they are built, else their Python twins.

- `Pipeline`: native/hotpath.pyx, twin collector/pipeline.py.
- `split_array`, `split_object`: native/hotpath.pyx; their twin is msgspec, in
  collector.decoding and collector.sources.segment, which always has the last word: these
  answer None for any body they are not sure of the outline of, and their events are
  each read strictly later (by the native pipeline, or on first access, or by
  `check_events` when a caller must know before either), msgspec's `recheck` of the body
  answering for it when one is not JSON.
- `Producer`: native/producer.pyx (librdkafka's C API), twin collector/sinks/producer.py.

COLLECTOR_NATIVE=0 forces both twins (for debugging and for parity tests).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence

from collector import pipeline as _twin
from collector.sinks import producer as _producer_twin

logger = logging.getLogger(__name__)


# How msgspec reads a body: its events, or the error that says why it cannot.
Recheck = Callable[[], Sequence[bytes]]


def _leave_to_msgspec(body: bytes, recheck: Recheck | None = None) -> Sequence[bytes] | None:
    return None


def _leave_object_to_msgspec(
    body: bytes, sent_key: bytes, recheck: Recheck | None = None
) -> tuple[Sequence[bytes], str | int | None] | None:
    return None


def _nothing_to_check(events: Sequence[bytes]) -> None:
    return None


Pipeline: type[_twin.Pipeline] = _twin.Pipeline
split_array: Callable[[bytes, Recheck], Sequence[bytes] | None] = _leave_to_msgspec
split_object: Callable[[bytes, bytes, Recheck], tuple[Sequence[bytes], str | int | None] | None] = (
    _leave_object_to_msgspec
)
check_events: Callable[[Sequence[bytes]], None] = _nothing_to_check
Producer: type[_producer_twin.Producer] = _producer_twin.Producer
IMPLEMENTATION = "python"
PRODUCER_IMPLEMENTATION = "python"

if os.environ.get("COLLECTOR_NATIVE", "1") != "0":
    try:
        import collector._hotpath as _hotpath
    except ImportError:  # pragma: no cover - depends on how the package was installed
        logger.warning("native hot path not built; using the pure-Python twin")
    else:
        Pipeline = _hotpath.Pipeline
        split_array = _hotpath.split_array
        split_object = _hotpath.split_object
        check_events = _hotpath.check_events
        IMPLEMENTATION = "native"
    try:
        import collector._producer as _producer
    except ImportError:  # pragma: no cover - built only where librdkafka's headers are
        logger.warning("native producer not built; using confluent-kafka's")
    else:
        Producer = _producer.Producer
        PRODUCER_IMPLEMENTATION = "native"
