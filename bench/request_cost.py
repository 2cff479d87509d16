"""What one one-event request costs the event loop, without sockets or a load generator.

    python -m bench.request_cost [--requests 6000] [--rounds 12] [--json]

Drives the collector's ASGI app (create_app, lifespan included, producing to a real broker)
in this process: POST /track requests of one event each, 32 at a time, as a browser sends
them (write key, user agent, Origin). Prints the event-loop thread's CPU per request
(time.thread_time, so librdkafka's threads and the kernel's socket work are not counted) as
the median and the lowest of the rounds after the first. Noise from the other processes on
the machine is smaller than through HTTP, which makes the per-request code comparable
between builds.

Needs a broker: `make kafka-up` or KAFKA_BOOTSTRAP.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import time
import uuid
from typing import Any

import msgspec
from starlette.types import Message

from bench import print_figures
from collector.app import create_app
from collector.config import from_environment
from loadtest.payloads import client_ips, track_bodies
from tests.support.kafka import delete_topics

WRITE_KEY = "bench-write-key"
USER_AGENT = b"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
CONCURRENT = 32


def one_event_bodies(count: int) -> list[bytes]:
    events = [
        event for body in track_bodies(count // 100 + 1) for event in msgspec.json.decode(body)
    ]
    return [msgspec.json.encode([event]) for event in events[:count]]


async def measure(requests: int, rounds: int) -> list[float]:
    prefix = f"bench.request_cost.{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "COLLECTOR_ENV": "development",
        "COLLECTOR_WRITE_KEYS": f"{WRITE_KEY}:web",
        "COLLECTOR_CORS_ORIGINS": "https://shop.example",
        **{
            f"COLLECTOR_TOPIC_{s.upper()}": f"{prefix}.{s}"
            for s in ("web", "mobile", "server", "bots")
        },
    }
    app = create_app(from_environment(env))
    bodies = one_event_bodies(2000)
    ips = client_ips(len(bodies))
    authorization = b"Basic " + base64.b64encode(f"{WRITE_KEY}:".encode())

    async def post(index: int) -> int:
        body = bodies[index % len(bodies)]
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/track",
            "raw_path": b"/track",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"collector"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"user-agent", USER_AGENT),
                (b"authorization", authorization),
                (b"origin", b"https://shop.example"),
            ],
            "client": (ips[index % len(ips)], 50000),
            "server": ("127.0.0.1", 8080),
        }
        delivered = False
        statuses = []

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects
            raise AssertionError

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)
        return statuses[0]

    per_request = []
    try:
        async with app.router.lifespan_context(app):
            sent = 0
            for _ in range(rounds):
                started = time.thread_time()
                for _ in range(requests // CONCURRENT):
                    answers = await asyncio.gather(*(post(sent + i) for i in range(CONCURRENT)))
                    sent += CONCURRENT
                    if any(status != 200 for status in answers):
                        raise RuntimeError(f"answers other than 200: {answers}")
                per_request.append(
                    (time.thread_time() - started) / (requests // CONCURRENT * CONCURRENT)
                )
    finally:
        delete_topics(f"{prefix}.")
    return per_request[1:]  # the first round warms caches and connections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rounds = sorted(asyncio.run(measure(args.requests, max(2, args.rounds))))
    print_figures(
        {
            "route": "/track",
            "events_per_request": 1,
            "rounds": len(rounds),
            "event_loop_cpu_us_per_request_median": round(rounds[len(rounds) // 2] * 1e6, 1),
            "event_loop_cpu_us_per_request_lowest": round(rounds[0] * 1e6, 1),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
