"""Request bodies to lists of raw events.

A batch is a JSON array of event objects or an object {"batch": [...]} (the shape Segment and
RudderStack clients send). Anything else is a 400 naming what is wrong; nothing of a
malformed body is produced.
"""

from __future__ import annotations

from typing import Any

import msgspec

from collector.errors import InvalidJSON, InvalidShape

Event = dict[str, Any]

_decoder = msgspec.json.Decoder()


def decode_batch(body: bytes) -> list[Event]:
    """Parse a request body into its events, or raise a BadRequest saying why not."""
    if not body.strip():
        raise InvalidShape('empty body: expected a JSON array of events or {"batch": [...]}')
    try:
        document = _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidJSON(f"body is not valid JSON: {exc}") from None
    if isinstance(document, dict):
        if "batch" not in document:
            raise InvalidShape('expected a JSON array of events or an object with a "batch" array')
        events = document["batch"]
        where = "batch"
    else:
        events = document
        where = "body"
    if not isinstance(events, list):
        raise InvalidShape(f"{where} must be an array of event objects, not {_kind(events)}")
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise InvalidShape(f"{where}[{index}] must be an event object, not {_kind(event)}")
    return events


def _kind(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
