"""Smoke-test a running collector: post seeded events to /track, read the topics back.

    .venv/bin/python scripts/smoke.py [--url http://127.0.0.1:8080] [--events 10000]
        [--batch 100] [--topic events.web] [--bots-topic events.bots]

The seeded web mix has a few percent crawlers (they belong on the bots topic); every 20th
event carries no identity, to show keyless records. Prints what was posted, what the topics
hold, and whether every posted event arrived exactly once with the key the keying rules give
it (tokenized user id, else anonymous id, else session id, else none). Exit status 1 if not.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections import Counter
from pathlib import Path

import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtest.payloads import client_ips, web_events
from tests.support.kafka import consume_all


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--topic", default="events.web")
    parser.add_argument("--bots-topic", default="events.bots")
    parser.add_argument("--write-key", default="dev-write-key")
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    events = web_events(args.events)
    for i, event in enumerate(events):
        event["properties"]["smoke_run"] = run
        if i % 20 == 0:
            for field in ("user_id", "anonymous_id", "session_id"):
                event.pop(field, None)
    # Each batch from its own address, as behind a load balancer; from one address, 10,000
    # events a minute would rightly be flagged as a bot's rate.
    ips = client_ips(len(events) // args.batch + 1)
    auth = httpx.BasicAuth(args.write_key, "")
    with httpx.Client(base_url=args.url, timeout=60, auth=auth) as client:
        for start in range(0, len(events), args.batch):
            response = client.post(
                "/track",
                json=events[start : start + args.batch],
                headers={"X-Forwarded-For": ips[start // args.batch]},
            )
            response.raise_for_status()
            assert response.json()["rejected"] == 0, response.text
    print(f"posted {len(events)} events in batches of {args.batch} (run {run})")

    ours = []
    for topic in (args.topic, args.bots_topic):
        records = consume_all(topic)
        mine = [(r, msgspec.json.decode(r.value)) for r in records]
        mine = [(r, v) for r, v in mine if v["properties"].get("smoke_run") == run]
        print(f"topic {topic}: {len(records)} records in all, {len(mine)} from this run")
        ours += mine
    seen = Counter(v["properties"]["n"] for _, v in ours)
    once = len(ours) == len(events) and all(seen[e["properties"]["n"]] == 1 for e in events)
    keys_ok = all(
        r.key == ((v["user_id"] or v["anonymous_id"] or v["session_id"] or "").encode() or None)
        for r, v in ours
    )
    keyless = sum(r.key is None for r, _ in ours)
    empty = sum(r.key == b"" for r, _ in ours)
    tokens = sum(1 for _, v in ours if v["user_id"] and not v["user_id"].startswith("user-"))
    print(f"every event exactly once: {once}")
    print(f"keys as specified: {keys_ok} ({keyless} keyless, {empty} empty keys)")
    print(f"user ids tokenized: {tokens} of {sum(1 for e in events if 'user_id' in e)}")
    print(f"partitions used: {len({(r.topic, r.partition) for r, _ in ours})}")
    return 0 if once and keys_ok and not empty else 1


if __name__ == "__main__":
    sys.exit(main())
