"""Which partition key an activity event gets.

The key decides the partition, and so the order consumers see: all events of one user stay
in order. The first present identity wins: user_id, then anonymous_id, then session_id.
No identity means no key at all. An empty byte string would be a real key: Kafka would hash
every keyless event onto the same partition.
"""

from __future__ import annotations

from typing import Any

IDENTITY_FIELDS = ("user_id", "anonymous_id", "session_id")


def choose_key(event: dict[str, Any]) -> bytes | None:
    """The event's partition key, or None when it carries no usable identity.

    Non-empty strings and integers (as decimal text) are identities; empty strings, null,
    booleans, floats, arrays and objects are not.
    """
    for field in IDENTITY_FIELDS:
        value = event.get(field)
        if isinstance(value, str):
            if value:
                return value.encode()
        elif isinstance(value, int) and not isinstance(value, bool):
            return str(value).encode()
    return None
