import json
from typing import Any

import msgspec
import pytest

from collector import schemas


def schema_of(struct: type[msgspec.Struct]) -> dict[str, Any]:
    schema = msgspec.json.schema(struct)
    definition: dict[str, Any] = schema["$defs"][struct.__name__]
    return definition


class V1(msgspec.Struct, kw_only=True):
    id: str
    n: int = 0
    note: str | None = None


def test_committed_schemas_are_current() -> None:
    # A change to an envelope Struct must come with its regenerated schema file.
    for name in schemas.SCHEMAS:
        committed = (schemas.DIRECTORY / f"{name}.json").read_text()
        assert committed == schemas.render(schemas.generate(name)), (
            f"run python -m collector.schemas to update {name}"
        )


def test_current_envelopes_are_backward_compatible_with_the_committed_ones() -> None:
    for name in schemas.SCHEMAS:
        committed = json.loads((schemas.DIRECTORY / f"{name}.json").read_text())
        assert schemas.incompatibilities(committed, schemas.generate(name)) == []


def test_a_new_optional_field_is_compatible() -> None:
    class V2(msgspec.Struct, kw_only=True):
        id: str
        n: int = 0
        note: str | None = None
        added: list[str] = []

    assert schemas.incompatibilities(schema_of(V1), schema_of(V2)) == []


def test_a_changed_description_is_compatible() -> None:
    class V2(msgspec.Struct, kw_only=True):
        """Now documented."""

        id: str
        n: int = 0
        note: str | None = None

    assert schemas.incompatibilities(schema_of(V1), schema_of(V2)) == []


def test_removing_a_field_is_refused() -> None:
    class V2(msgspec.Struct, kw_only=True):
        id: str
        n: int = 0

    assert schemas.incompatibilities(schema_of(V1), schema_of(V2)) == [
        "field 'note' was removed or renamed"
    ]


def test_renaming_a_field_is_refused() -> None:
    class V2(msgspec.Struct, kw_only=True):
        id: str
        count: int = 0
        note: str | None = None

    assert "field 'n' was removed or renamed" in schemas.incompatibilities(
        schema_of(V1), schema_of(V2)
    )


@pytest.mark.parametrize("new_type", [str, float, int | None, list[int]])
def test_retyping_a_field_is_refused(new_type: Any) -> None:
    V2 = msgspec.defstruct(
        "V2", [("id", str), ("n", new_type, 0), ("note", str | None, None)], kw_only=True
    )
    assert schemas.incompatibilities(schema_of(V1), schema_of(V2)) == ["field 'n' changed type"]


def test_a_new_required_field_is_refused() -> None:
    class V2(msgspec.Struct, kw_only=True):
        id: str
        tenant: str
        n: int = 0
        note: str | None = None

    assert schemas.incompatibilities(schema_of(V1), schema_of(V2)) == [
        "field 'tenant' is newly required"
    ]


def test_making_an_optional_field_required_is_refused() -> None:
    class V2(msgspec.Struct, kw_only=True):
        id: str
        n: int
        note: str | None = None

    problems = schemas.incompatibilities(schema_of(V1), schema_of(V2))
    assert "field 'n' is newly required" in problems
