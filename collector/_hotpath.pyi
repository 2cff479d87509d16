# Types of the compiled hot path (native/hotpath.pyx); each piece names its Python twin there.
from collections.abc import Callable, Sequence
from typing import Any, overload

from collector import pipeline

def tree_violation(
    value: dict[str, Any] | list[Any], path: str, depth: int, max_depth: int, max_string: int
) -> tuple[str, str] | None: ...

class Pipeline(pipeline.Pipeline): ...

class Events(Sequence[bytes]):
    """The events of a batch body, sliced from it in place (registered as a Sequence)."""

    body: bytes
    # Split by the body's outline: each event still to be read strictly, on first access.
    @property
    def outlined(self) -> bool: ...
    # How msgspec reads the body, for when one of these events turns out not to be JSON.
    recheck: Callable[[], Sequence[bytes]] | None
    def __len__(self) -> int: ...
    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

def check_events(events: Sequence[bytes]) -> None: ...
def split_array(
    body: bytes, recheck: Callable[[], Sequence[bytes]] | None = None
) -> Events | None: ...
def split_object(
    body: bytes, sent_key: bytes, recheck: Callable[[], Sequence[bytes]] | None = None
) -> tuple[Events, str | int | None] | None: ...
def outline_scans() -> tuple[str, ...]: ...
def use_outline_scan(name: str) -> None: ...

# For tests: the free-text scrub's pre-check on a str, or on ASCII bytes as the byte
# scanners make it.
def may_hold_pii(text: str | bytes) -> bool: ...
