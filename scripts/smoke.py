"""Smoke-test a running collector: post seeded events to /track, read the topic back.

    .venv/bin/python scripts/smoke.py [--url http://127.0.0.1:8080] [--events 10000]
        [--batch 100] [--topic events.web]

Every 20th event carries no identity, to show keyless records. Prints what was posted, what
the topic holds (all of it, read from the start), and whether every posted event arrived
exactly once with the key the keying rules give it. Exit status 1 if not.
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

from collector.keying import choose_key
from loadtest.payloads import web_events
from tests.support.kafka import consume_all


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--topic", default="events.web")
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    events = web_events(args.events)
    for i, event in enumerate(events):
        event["smoke_run"] = run
        if i % 20 == 0:
            for field in ("user_id", "anonymous_id", "session_id"):
                event.pop(field, None)
    with httpx.Client(base_url=args.url, timeout=60) as client:
        for start in range(0, len(events), args.batch):
            response = client.post("/track", json=events[start : start + args.batch])
            response.raise_for_status()
    print(f"posted {len(events)} events in batches of {args.batch} (run {run})")

    records = consume_all(args.topic)
    ours = [(r, msgspec.json.decode(r.value)) for r in records]
    ours = [(r, v) for r, v in ours if v.get("smoke_run") == run]
    print(f"topic {args.topic}: {len(records)} records in all, {len(ours)} from this run")
    seen = Counter(v["properties"]["n"] for _, v in ours)
    once = all(seen[e["properties"]["n"]] == 1 for e in events) and len(ours) == len(events)
    keys_ok = all(r.key == choose_key(v) for r, v in ours)
    keyless = sum(r.key is None for r, _ in ours)
    empty = sum(r.key == b"" for r, _ in ours)
    partitions = len({r.partition for r, _ in ours})
    print(f"every event exactly once: {once}")
    print(f"keys as specified: {keys_ok} ({keyless} keyless, {empty} empty keys)")
    print(f"partitions used: {partitions}")
    return 0 if once and keys_ok and not empty else 1


if __name__ == "__main__":
    sys.exit(main())
