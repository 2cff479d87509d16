"""Write keys: who may send events, and what their events are.

A write key names a source configuration (its stream, tenant, topics, PII policy and quota).
Clients present it the way their library does: HTTP Basic with the key as user name (Segment
and RudderStack libraries), `Authorization: Bearer <key>`, or, on the beacon route only (where
`navigator.sendBeacon` cannot set headers), a `writeKey` query parameter.

Keys are looked up by their SHA-256 digest and then compared in constant time, so neither the
lookup nor the comparison leaks how much of a guess was right. Keys never reach logs or
metric labels; a source's configured `name` does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from starlette.datastructures import QueryParams

from collector.config import WriteKey
from collector.errors import Unauthorized


class Authenticator:
    def __init__(self, write_keys: Mapping[str, WriteKey]) -> None:
        self._by_digest = {
            hashlib.sha256(key.encode()).digest(): (key.encode(), source)
            for key, source in write_keys.items()
        }

    def source_for(self, presented: str | None) -> tuple[str, WriteKey]:
        """The presented key, known to be valid, and its source configuration; or
        Unauthorized."""
        if not presented:
            raise Unauthorized("a write key is required (HTTP Basic user name or Bearer token)")
        candidate = presented.encode()
        found = self._by_digest.get(hashlib.sha256(candidate).digest())
        if found is None or not hmac.compare_digest(found[0], candidate):
            raise Unauthorized("unknown write key")
        return presented, found[1]


def presented_key(authorization: str | None, query: QueryParams | None) -> str | None:
    """The write key a request carries (`authorization`: its Authorization header), wherever
    its client library puts it; `query` only where a route takes the key from the query
    string."""
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, ValueError):
            raise Unauthorized("malformed Basic credentials") from None
        return decoded.partition(":")[0]
    if scheme.lower() == "bearer":
        return credentials.strip()
    if query is not None:
        return query.get("writeKey")
    return None
