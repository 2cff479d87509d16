# Types of the compiled hot path (native/hotpath.pyx); each piece names its Python twin there.
from typing import Any

from collector import pipeline

def tree_violation(
    value: dict[str, Any] | list[Any], path: str, depth: int, max_depth: int, max_string: int
) -> tuple[str, str] | None: ...

class Pipeline(pipeline.Pipeline): ...
