"""JSON Schemas of the envelope types, and the rule for evolving them.

    python -m collector.schemas           write schemas/<name>.json from the Structs
    python -m collector.schemas --check   exit 1 if a committed schema is stale or a change
                                          is not backward compatible

Backward compatible means a consumer built against the committed schema can still read every
new record: no field removed, renamed or retyped, and no new required field. New optional
fields are fine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from collector.envelope import SCHEMA_VERSION, Activity

SCHEMAS: dict[str, type[msgspec.Struct]] = {SCHEMA_VERSION: Activity}
DIRECTORY = Path(__file__).resolve().parent.parent / "schemas"


def generate(name: str) -> dict[str, Any]:
    schema = msgspec.json.schema(SCHEMAS[name])
    # Inline the one definition, so the file reads as the record it describes.
    definition: dict[str, Any] = schema["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": name, **definition}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def incompatibilities(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why records written with `new` may break a consumer built for `old`; empty if none."""
    problems = []
    old_fields, new_fields = old.get("properties", {}), new.get("properties", {})
    for field, old_type in old_fields.items():
        if field not in new_fields:
            problems.append(f"field {field!r} was removed or renamed")
        elif _shape(new_fields[field]) != _shape(old_type):
            problems.append(f"field {field!r} changed type")
    for field in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        problems.append(f"field {field!r} is newly required")
    return problems


def _shape(schema: Any) -> Any:
    """A field's schema without what does not change its type (descriptions, titles)."""
    if isinstance(schema, dict):
        return {k: _shape(v) for k, v in schema.items() if k not in ("description", "title")}
    if isinstance(schema, list):
        return [_shape(item) for item in schema]
    return schema


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collector.schemas", description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    failed = False
    for name in SCHEMAS:
        path = DIRECTORY / f"{name}.json"
        fresh = generate(name)
        if not args.check:
            if path.exists():
                problems = incompatibilities(json.loads(path.read_text()), fresh)
                if problems:
                    print(f"{name}: not backward compatible: {'; '.join(problems)}")
                    print("  make a new version (e.g. activity.v2) instead")
                    failed = True
                    continue
            DIRECTORY.mkdir(exist_ok=True)
            path.write_text(render(fresh))
            print(f"wrote {path}")
        elif not path.exists() or path.read_text() != render(fresh):
            print(f"{name}: {path} is stale; run python -m collector.schemas")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
