"""Events/s of the event pipeline on one core: request body bytes in, Kafka records out.

    python -m bench.pipeline [--seconds 10] [--json]

Runs in this process (one core), on the seeded web mix of loadtest/payloads.py (batches of
100, ~350 bytes per event, repeated visitors and user agents, a few percent crawlers, PII in
free text) with the default bot and PII policy. The clock is simulated: a site sending 5,000
events/s, so the rate heuristics see a realistic spread of visitors.

The baseline in the same run is the bare bridge of the walking skeleton: decode the body into
dicts and encode each event back to JSON. Its ratio to the pipeline says what the pipeline's
work costs on this machine, whatever the machine's speed.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable

import msgspec

from collector import native
from collector.config import Settings
from collector.decoding import decode_batch
from collector.normalize import Received
from collector.pipeline import Pipeline
from loadtest.payloads import client_ips, track_bodies

BATCH = 100
SITE_EVENTS_PER_S = 5_000
START_MS = 1_795_700_000_000 + 3_600_000


def measure(
    run_batch: Callable[[bytes, int, str], int], bodies: list[bytes], seconds: float
) -> float:
    """Events/s of `run_batch` over the bodies, cycling until `seconds` of CPU time."""
    ips = client_ips(len(bodies))
    events = 0
    batches = 0
    started = time.process_time()
    while True:
        for index, body in enumerate(bodies):
            now = START_MS + batches * BATCH * 1000 // SITE_EVENTS_PER_S
            events += run_batch(body, now, ips[index])
            batches += 1
        elapsed = time.process_time() - started
        if elapsed >= seconds:
            return events / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batches", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    bodies = track_bodies(args.batches, BATCH)
    pipeline = Pipeline(Settings(), b"benchmark-secret-0123456789abcdef")
    user_agent = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
    outcomes = {"records": 0, "bots": 0, "rejected": 0}

    def through_pipeline(body: bytes, now: int, ip: str) -> int:
        batch = decode_batch(body)
        received = Received(received_ms=now, client_ip=ip, user_agent=user_agent)
        outcome = pipeline.process(batch.events, received)
        outcomes["records"] += len(outcome.records)
        outcomes["bots"] += sum(outcome.bots.values())
        outcomes["rejected"] += len(outcome.rejected)
        return len(batch.events)

    decode = msgspec.json.decode
    encode = msgspec.json.encode

    def bare_bridge(body: bytes, now: int, ip: str) -> int:
        events = decode(body)
        for event in events:
            encode(event)
        return len(events)

    baseline = measure(bare_bridge, bodies, args.seconds / 2)
    rate = measure(through_pipeline, bodies, args.seconds)
    total = sum(outcomes.values()) - outcomes["bots"]
    result = {
        "implementation": native.IMPLEMENTATION,
        "event_bytes": round(sum(map(len, bodies)) / (len(bodies) * BATCH)),
        "batch": BATCH,
        "pipeline_events_per_s": round(rate),
        "pipeline_us_per_event": round(1e6 / rate, 2),
        "baseline_events_per_s": round(baseline),
        "pipeline_cost_vs_baseline": round(baseline / rate, 2),
        "bot_share": round(outcomes["bots"] / max(total, 1), 3),
        "rejected": outcomes["rejected"],
        "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for name, value in result.items():
            print(f"{name:28} {value}")


if __name__ == "__main__":
    main()
