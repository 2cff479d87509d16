"""Events to Kafka records: the pure-Python specification of the native hot path.

`build_records` here and in native/hotpath.pyx must give identical output for identical
input; collector.native picks one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from collector.keying import choose_key

Record = tuple[bytes | None, bytes]


def build_records(events: list[dict[str, Any]], encode: Callable[[Any], bytes]) -> list[Record]:
    """One (key, value) pair per event, in order; value is the event encoded as JSON."""
    return [(choose_key(event), encode(event)) for event in events]
