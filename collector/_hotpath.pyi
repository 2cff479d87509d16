# Types of the compiled hot path (native/hotpath.pyx); collector/records.py is its twin.
from collections.abc import Callable
from typing import Any

def build_records(
    events: list[dict[str, Any]], encode: Callable[[Any], bytes]
) -> list[tuple[bytes | None, bytes]]: ...
