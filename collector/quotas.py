"""Per-write-key event quotas: a token bucket per key.

A bucket holds up to `burst` events and refills at `rate_per_s`. A request takes one token per
event; when the bucket cannot cover the whole request, nothing is taken and the request is
refused with the time until it could be covered. Other keys have their own buckets.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class TokenBucket:
    __slots__ = ("_clock", "_tokens", "_updated", "burst", "rate_per_s")

    def __init__(
        self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def take(self, count: int) -> float:
        """Take `count` tokens; return 0 on success, else seconds until they would be there."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate_per_s)
        self._updated = now
        if count <= self._tokens:
            self._tokens -= count
            return 0.0
        if count > self.burst:
            # More than the bucket can ever hold: the request must be split.
            return math.inf
        return (count - self._tokens) / self.rate_per_s

    def give_back(self, count: int) -> None:
        """Return `count` tokens taken for a request that was then refused whole."""
        self._tokens = min(self.burst, self._tokens + count)
