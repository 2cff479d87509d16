"""Limits on what an event nests: depth, and the length of every key and string inside.

`tree_violation` is the Python twin of collector._hotpath.tree_violation; collector.native
picks one of them.
"""

from __future__ import annotations

from typing import Any


def tree_violation(
    value: dict[str, Any] | list[Any], path: str, depth: int, max_depth: int, max_string: int
) -> tuple[str, str] | None:
    """The first limit `value` (at nesting `depth`) breaks, as (reason, detail), or None."""
    if depth > max_depth:
        return "too_deep", f"{path} nests deeper than {max_depth} levels"
    if isinstance(value, dict):
        for key, item in value.items():
            if len(key) > max_string:
                return "string_too_long", f"a key in {path} is too long"
            found = _item_violation(item, f"{path}.{key}", depth, max_depth, max_string)
            if found is not None:
                return found
    else:
        for index, item in enumerate(value):
            found = _item_violation(item, f"{path}[{index}]", depth, max_depth, max_string)
            if found is not None:
                return found
    return None


def _item_violation(
    item: Any, where: str, depth: int, max_depth: int, max_string: int
) -> tuple[str, str] | None:
    if isinstance(item, dict | list):
        return tree_violation(item, where, depth + 1, max_depth, max_string)
    if isinstance(item, str) and len(item) > max_string:
        return "string_too_long", f"{where} has {len(item)} characters"
    return None
