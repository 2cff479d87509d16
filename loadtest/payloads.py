"""Seeded web-event batches shared by benchmarks and load tests.

The mix imitates a site's tracker traffic: a few thousand visitors, a quarter of them signed
in, a handful of browsers, page views dominating clicks and form events. Same seed, same bytes.
"""

from __future__ import annotations

import random
from typing import Any

import msgspec

SEED = 20261126

_EVENTS = [("page", 60), ("click", 25), ("form_submit", 8), ("signup", 2), ("purchase", 5)]
_PATHS = ["/", "/pricing", "/docs", "/docs/install", "/blog/launch", "/signup", "/cart"]
_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
]


def web_events(count: int, seed: int = SEED) -> list[dict[str, Any]]:
    """`count` web activity events of about 300 bytes each as JSON."""
    rng = random.Random(seed)
    names, weights = zip(*_EVENTS, strict=True)
    events = []
    for i in range(count):
        visitor = rng.randrange(5000)
        event: dict[str, Any] = {
            "event": rng.choices(names, weights)[0],
            "anonymous_id": f"anon-{visitor:06d}",
            "session_id": f"s-{visitor:06d}-{rng.randrange(3)}",
            "ts": 1795700000000 + i * 37,
            "context": {
                "page": {"path": rng.choice(_PATHS), "referrer": "https://example.com/"},
                "user_agent": _AGENTS[visitor % len(_AGENTS)],
            },
            "properties": {"plan": rng.choice(["free", "team", "business"]), "n": i},
        }
        if visitor % 4 == 0:
            event["user_id"] = f"user-{visitor:06d}"
        events.append(event)
    return events


def track_bodies(batches: int, batch_size: int = 100, seed: int = SEED) -> list[bytes]:
    """`batches` JSON array bodies of `batch_size` events, ready to POST to /track."""
    events = web_events(batches * batch_size, seed)
    encode = msgspec.json.encode
    return [encode(events[i : i + batch_size]) for i in range(0, len(events), batch_size)]
