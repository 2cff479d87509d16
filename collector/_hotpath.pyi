# Types of the compiled hot path (native/hotpath.pyx); each function's twin is named there.
from typing import Any

def tree_violation(
    value: dict[str, Any] | list[Any], path: str, depth: int, max_depth: int, max_string: int
) -> tuple[str, str] | None: ...
