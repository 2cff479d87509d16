"""Seeded web-event batches shared by benchmarks and load tests.

The mix imitates a site's tracker traffic: many visitors, a quarter of them signed in, a
handful of browsers (a few percent crawlers), page views dominating clicks and form events,
and some PII in free text for the scrubber to find. Same seed, same bytes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

import msgspec

SEED = 20261126

_EVENTS = [("page", 60), ("click", 25), ("form_submit", 8), ("signup", 2), ("purchase", 5)]
_PATHS = ["/", "/pricing", "/docs", "/docs/install", "/blog/launch", "/signup", "/cart"]
# User agents with their weights: a visitor keeps one.
AGENTS = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        50,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15",
        20,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        20,
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", 7),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 3),
]


def web_events(
    count: int,
    seed: int = SEED,
    visitors: int = 50_000,
    agents: Sequence[tuple[str, int]] = AGENTS,
) -> list[dict[str, Any]]:
    """`count` web activity events of about 330 bytes each as JSON."""
    rng = random.Random(seed)
    names, weights = zip(*_EVENTS, strict=True)
    agent_names, agent_weights = zip(*agents, strict=True)
    agent_of = rng.choices(agent_names, agent_weights, k=visitors)
    events = []
    for i in range(count):
        visitor = rng.randrange(visitors)
        name = rng.choices(names, weights)[0]
        properties: dict[str, Any] = {"plan": rng.choice(["free", "team", "business"]), "n": i}
        if name == "form_submit":
            properties["message"] = f"please call me on +1 555 {rng.randrange(1000, 9999)} 0199"
        event: dict[str, Any] = {
            "event": name,
            "anonymous_id": f"anon-{visitor:06d}",
            "session_id": f"s-{visitor:06d}-{rng.randrange(3)}",
            "timestamp": 1795700000000 + i * 37,
            "context": {
                "page": {"path": rng.choice(_PATHS), "referrer": "https://example.com/"},
                "user_agent": agent_of[visitor],
            },
            "properties": properties,
        }
        if visitor % 4 == 0:
            event["user_id"] = f"user-{visitor:06d}"
        if name == "signup":
            event["context"]["traits"] = {"email": f"visitor{visitor}@example.com"}
        events.append(event)
    return events


def track_bodies(
    batches: int,
    batch_size: int = 100,
    seed: int = SEED,
    agents: Sequence[tuple[str, int]] = AGENTS,
) -> list[bytes]:
    """`batches` JSON array bodies of `batch_size` events, ready to POST to /track."""
    events = web_events(batches * batch_size, seed, agents=agents)
    encode = msgspec.json.encode
    return [encode(events[i : i + batch_size]) for i in range(0, len(events), batch_size)]


def segment_bodies(batches: int, batch_size: int = 100, seed: int = SEED) -> list[bytes]:
    """The same events as Segment's analytics.js posts them to /v1/batch: camelCase ids, a
    messageId each, ISO-8601 timestamps, the session in properties, context.userAgent and
    context.library."""
    events = web_events(batches * batch_size, seed)
    encode = msgspec.json.encode
    library = {"name": "analytics.js", "version": "5.2.0"}
    spelled = []
    for i, event in enumerate(events):
        context = dict(event["context"])
        context["userAgent"] = context.pop("user_agent")
        context["library"] = library
        milliseconds = event["timestamp"] % 1000
        segment: dict[str, Any] = {
            "type": "track",
            "event": event["event"],
            "messageId": f"ajs-next-{seed}-{i:08d}",
            "anonymousId": event["anonymous_id"],
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(event["timestamp"] // 1000))
            + f".{milliseconds:03d}Z",
            "context": context,
            "properties": {**event["properties"], "session_id": event["session_id"]},
            "integrations": {},
        }
        if "user_id" in event:
            segment["userId"] = event["user_id"]
        spelled.append(segment)
    return [
        encode({"batch": spelled[i : i + batch_size]}) for i in range(0, len(spelled), batch_size)
    ]


def client_ips(count: int, seed: int = SEED) -> list[str]:
    """Client addresses for batches (as a load balancer would put in X-Forwarded-For)."""
    rng = random.Random(seed + 1)
    return [f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(count)]
