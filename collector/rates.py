"""Event rates per key over a sliding window, in constant memory per key.

The sliding-window counter approximation: counts are kept for the current and the previous
fixed window, and the rate over the last `window` is the current count plus the previous one
weighted by how much of it still lies inside the sliding window. Keys idle for two windows
are forgotten when a new window starts, so memory follows the active keys.
"""

from __future__ import annotations


class SlidingWindow:
    __slots__ = ("_counts", "_epoch", "_previous", "window_ms")

    def __init__(self, window_ms: int) -> None:
        if window_ms <= 0:
            raise ValueError("window_ms must be positive")
        self.window_ms = window_ms
        self._epoch = 0
        # key -> [current window count, previous window count], both for self._epoch.
        self._counts: dict[object, list[int]] = {}
        self._previous: dict[object, int] = {}

    def hit(self, key: object, now_ms: int) -> float:
        """Count one event for `key` at `now_ms`; return the key's count over the window."""
        epoch, into = divmod(now_ms, self.window_ms)
        if epoch != self._epoch:
            self._advance(epoch)
        counts = self._counts.get(key)
        if counts is None:
            counts = self._counts[key] = [0, self._previous.get(key, 0)]
        counts[0] += 1
        return counts[0] + counts[1] * (1 - into / self.window_ms)

    def _advance(self, epoch: int) -> None:
        if epoch == self._epoch + 1:
            self._previous = {key: counts[0] for key, counts in self._counts.items()}
        else:
            # A gap of a whole window or more (or a clock step back): nothing carries over.
            self._previous = {}
        self._counts = {}
        self._epoch = epoch

    def __len__(self) -> int:
        return len(self._counts) + len(self._previous)
