"""Client timestamps: parsing, one canonical form, and clock-skew correction.

Browser and phone clocks are often minutes or years off. A client that sends `sent_at` (when
the batch left it, by its own clock) lets the server measure that offset:
`skew = received_at - sent_at`, and an event's corrected time is `client_ts + skew`.
Timestamps are carried as integer epoch milliseconds and emitted as ISO-8601 UTC with
milliseconds, e.g. `2026-11-26T14:25:07.123Z`.
"""

from __future__ import annotations

import calendar
import functools
import time

import ciso8601

# Clocks that claim a time before this are broken (devices reset to 1970), not old events.
EARLIEST_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
# Year 9999: the largest time the canonical form can show.
LATEST_MS = 253_402_300_799_999


class InvalidTimestamp(ValueError):
    """Not ISO-8601, not epoch milliseconds, or outside the years 0001-9999."""


def parse(value: str | int) -> int:
    """Epoch milliseconds from an ISO-8601 string or an integer of epoch milliseconds.

    ISO-8601 without an offset is taken as UTC.
    """
    if isinstance(value, int):
        if not -62_135_596_800_000 <= value <= LATEST_MS:
            raise InvalidTimestamp(f"epoch milliseconds out of range: {value}")
        return value
    try:
        parsed = ciso8601.parse_datetime(value)
        # An offset can carry a valid local time past year 1 or 9999 in UTC.
        seconds = calendar.timegm(parsed.utctimetuple())
    except (ValueError, OverflowError):
        raise InvalidTimestamp(
            f"not an ISO-8601 timestamp in years 1-9999: {value[:64]!r}"
        ) from None
    return seconds * 1000 + parsed.microsecond // 1000


# A batch's events share their received_at; the cache makes that one formatting, not many.
@functools.lru_cache(maxsize=1024)
def format(ms: int) -> str:
    """The canonical form: ISO-8601 in UTC with milliseconds and a Z."""
    seconds, millis = divmod(ms, 1000)
    t = time.gmtime(seconds)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
        f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{millis:03d}Z"
    )


def correct(
    client_ms: int | None, sent_ms: int | None, received_ms: int, max_future_ms: int
) -> tuple[int, int | None]:
    """The event's corrected time and the skew applied (None without `sent_at`).

    Without a usable client time the server's receive time stands in. A corrected time still
    ahead of the server by more than `max_future_ms`, or before the year 2000, is a clock
    that cannot be trusted: it is clamped to the receive time.
    """
    skew = None if sent_ms is None else received_ms - sent_ms
    if client_ms is None:
        return received_ms, skew
    ts = client_ms if skew is None else client_ms + skew
    if ts > received_ms + max_future_ms or ts < EARLIEST_MS:
        ts = received_ms
    return ts, skew
