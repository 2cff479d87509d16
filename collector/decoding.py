"""Request bodies to the raw bytes of each event.

A batch is a JSON array of events or an object {"batch": [...], "sent_at": ...} (the shape
Segment and RudderStack clients send). Only the outline is parsed here: each event stays raw
bytes, decoded on its own by the pipeline, so one bad event is rejected alone while its
siblings go on. A body whose outline is wrong is a 400 naming the problem, and produces
nothing.

msgspec is the specification. A body goes first to the native splitters
(collector.native.split_array and split_object), which split it by its outline where they
are sure of that, and otherwise leave it to msgspec, errors included. An event split so is
read strictly once, by the native pipeline as it reads it (or by the splitter on first
access): when one is not JSON, the body goes to msgspec after all, whose error (a 400)
is the answer, and the pipeline leaves no trace of the events before it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import msgspec

from collector import native, timestamps
from collector.envelope import TrackBatch
from collector.errors import InvalidJSON, InvalidShape


class Batch(msgspec.Struct, frozen=True):
    # msgspec.Raw slices of the body, or the native splitter's.
    events: Sequence[bytes]
    # The batch's `sent_at` in epoch milliseconds, when it has one.
    sent_ms: int | None = None


# msgspec reads nesting by recursion, which ends around a thousand levels: past that a body is
# refused whole, where shallower events nesting too deep are rejected one by one.
NESTS_TOO_DEEPLY = "body nests too deeply to be read"

_decoder = msgspec.json.Decoder(list[msgspec.Raw] | TrackBatch)


def decode_batch(body: bytes) -> Batch:
    """The events of a request body, or a BadRequest saying what is wrong with it."""
    recheck = functools.partial(_events_by_msgspec, body)
    events = native.split_array(body, recheck)
    if events is not None:
        return Batch(events)
    split = native.split_object(body, b"sent_at", recheck)
    if split is not None:
        return batch_sent_at(*split, "sent_at")
    return decode_with_msgspec(body)


def _events_by_msgspec(body: bytes) -> Sequence[bytes]:
    return decode_with_msgspec(body).events


def batch_sent_at(events: Sequence[bytes], sent_at: str | int | None, name: str) -> Batch:
    """The batch, its sent time (the member `name`) read, or an InvalidShape."""
    try:
        sent_ms = None if sent_at is None else timestamps.parse(sent_at)
    except timestamps.InvalidTimestamp as exc:
        # msgspec finds events that are not JSON first: theirs is the error then.
        native.check_events(events)
        raise InvalidShape(f"{name}: {exc}") from None
    return Batch(events, sent_ms)


def decode_with_msgspec(body: bytes) -> Batch:
    """decode_batch without the native splitter: its specification."""
    if not body.strip():
        raise InvalidShape('empty body: expected a JSON array of events or {"batch": [...]}')
    try:
        document = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidShape(
            f'expected a JSON array of events or {{"batch": [...]}}: {exc}'
        ) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        # msgspec reports invalid UTF-8 in a string as UnicodeDecodeError.
        raise InvalidJSON(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidJSON(NESTS_TOO_DEEPLY) from None
    if isinstance(document, list):
        return Batch(document)
    return batch_sent_at(document.batch, document.sent_at, "sent_at")
