"""Which partition key an activity event gets, and salting of hot keys.

The key decides the partition, and so the order consumers see: all events of one user stay
in order. The first present identity wins: user_id (tokenized by then), anonymous_id,
session_id. No identity means no key at all. An empty byte string would be a real key: Kafka
would hash every keyless event onto the same partition.

One entity far busier than the rest (a load test, a shared kiosk, a bug in a client) would
pin its partition. A key seen more than `max_events_per_key` times within the window is salted
into `salts` sub-keys (`key#0` ... `key#7`, header `salt`), trading its order for spread.
"""

from __future__ import annotations

from collector.config import HotKeys
from collector.envelope import Activity
from collector.rates import SlidingWindow


def choose_key(event: Activity) -> bytes | None:
    """The event's partition key, or None when it carries no identity."""
    identity = event.user_id or event.anonymous_id or event.session_id
    return identity.encode("utf-8", "surrogatepass") if identity else None


class HotKeySalter:
    def __init__(self, settings: HotKeys) -> None:
        self.settings = settings
        self._rates = SlidingWindow(settings.window_s * 1000)
        # Round-robin position per salted key, so its events spread evenly.
        self._next_salt: dict[bytes, int] = {}

    def salt(self, key: bytes, now_ms: int) -> tuple[bytes, int | None]:
        """The key to produce with, and the salt used (None when the key is not hot)."""
        if self._rates.hit(key, now_ms) <= self.settings.max_events_per_key:
            return key, None
        salt = self._next_salt.get(key, 0)
        self._next_salt[key] = (salt + 1) % self.settings.salts
        if len(self._next_salt) > 100_000:
            self._next_salt.clear()
        return key + b"#" + str(salt).encode(), salt
