# Types of the compiled hot path (native/hotpath.pyx); each piece names its Python twin there.
from collections.abc import Sequence
from typing import Any, overload

from collector import pipeline

def tree_violation(
    value: dict[str, Any] | list[Any], path: str, depth: int, max_depth: int, max_string: int
) -> tuple[str, str] | None: ...

class Pipeline(pipeline.Pipeline): ...

class Events(Sequence[bytes]):
    """The events of a batch body, sliced from it in place (registered as a Sequence)."""

    body: bytes
    def __len__(self) -> int: ...
    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

def split_array(body: bytes) -> Events | None: ...
def split_object(body: bytes, sent_key: bytes) -> tuple[Events, str | int | None] | None: ...
