"""Limits on what an event nests: depth, and the length of every key and string inside.

`tree_violation` is the Python twin of collector._hotpath.tree_violation; the Python
pipeline uses this one, the native pipeline its own. `nests_deeper_than` guards decoding in
both.
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


# Deeper than this, an event is refused before it is decoded: decoders recurse, and how deep
# they may go depends on the interpreter's stack at that moment.
MAX_DECODE_DEPTH = 256


def nests_deeper_than(raw: bytes, limit: int = MAX_DECODE_DEPTH) -> bool:
    """Whether the JSON text `raw` nests arrays and objects more than `limit` levels deep."""
    # Fewer brackets than the limit cannot nest past it; nearly every event ends here.
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False
