"""End-to-end throughput of `collector serve` against a real broker.

Starts the collector (producing to a fresh topic), drives it with a cheap load generator
(pre-encoded HTTP/1.1 requests over keep-alive connections, in this process), and prints
events/s and the CPU each process spent per event, read from /proc (all threads counted, and
split by thread: the event loop's, named after the interpreter (`python`), and librdkafka's
`rdk:broker` and `rdk:main`).

    python -m bench.throughput [--seconds 30] [--connections 32] [--batch 100] [--segment]
                               [--against NAME=VALUE ... [--rounds 4]] [--json]

--segment posts the same events in Segment's spelling to /v1/batch instead of /track.
--against compares: two collectors run side by side, the baseline and one with these settings
in its environment (e.g. COLLECTOR_KAFKA_LINGER_MS=20), each with its own topics and half the
connections, and the ratio of their CPU per event is printed for each round and as a median.

Needs a broker: `make kafka-up` or KAFKA_BOOTSTRAP. On a 2-core machine the collector, the
broker and this generator share the cores; CPU per event is the figure that does not depend
on how they were shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import print_figures
from loadtest.payloads import client_ips, segment_bodies, track_bodies
from tests.support.kafka import delete_topics
from tests.support.server import CollectorProcess

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
STREAMS = ("web", "mobile", "server", "bots")
BENCH_CONFIG = ROOT / "bench" / "collector.toml"


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads, so far."""
    return _stat_cpu_seconds(Path(f"/proc/{pid}/stat"))


def _stat_cpu_seconds(stat: Path) -> float:
    """User + system CPU so far from a /proc stat file (a process's or one thread's)."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU so far of each of the process's threads, summed by thread name (librdkafka names
    its own: rdk:main, rdk:broker1, ...), so the total is split by who spent it."""
    spent: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            seconds = _stat_cpu_seconds(task / "stat")
        except OSError:  # the thread ended meanwhile
            continue
        # Numbered threads of one kind (rdk:broker1, rdk:broker-1) are one kind.
        kind = name.rstrip("0123456789-") if name.startswith("rdk:") else name
        spent[kind] = spent.get(kind, 0.0) + seconds
    return spent


def peak_rss_mib(pid: int) -> float:
    """The most resident memory the process has had (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def broker_pid() -> int | None:
    pidfile = ROOT / ".run/kafka/kafka.pid"
    if os.environ.get("KAFKA_BOOTSTRAP") or not pidfile.exists():
        return None
    return int(pidfile.read_text())


@dataclass
class Tally:
    requests: int = 0
    events: int = 0
    failures: int = 0


def encode_requests(path: str, bodies: list[bytes]) -> list[bytes]:
    """The requests, encoded once for every connection and both phases (made per connection,
    32 copies of the bodies kept the generator busy for seconds into the timed window, and
    took gigabytes at batches of 200)."""
    # Each batch from its own client address, as a load balancer in front would say.
    ips = client_ips(len(bodies))
    return [
        b"POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer bench-write-key\r\n"
        b"X-Forwarded-For: %s\r\nContent-Length: %d\r\n\r\n%s"
        % (path.encode(), ip.encode(), len(body), body)
        for ip, body in zip(ips, bodies, strict=True)
    ]


async def connection(
    port: int, requests: list[bytes], batch: int, stop: float, tally: Tally, offset: int
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    while time.monotonic() < stop:
        writer.write(requests[i % len(requests)])
        i += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        tally.requests += 1
        if head.startswith(b"HTTP/1.1 200"):
            tally.events += batch
        else:
            tally.failures += 1
    writer.close()


async def load(port: int, requests: list[bytes], batch: int, seconds: float, conns: int) -> Tally:
    tally = Tally()
    stop = time.monotonic() + seconds
    await asyncio.gather(
        *(connection(port, requests, batch, stop, tally, n * 7) for n in range(conns))
    )
    return tally


def start_collector(prefix: str, environment: Mapping[str, str]) -> CollectorProcess:
    """`collector serve` producing to topics of its own under `prefix`."""
    return CollectorProcess(
        {
            "COLLECTOR_ENV": "development",
            # A quota no benchmark reaches: this measures the collector, not the limit.
            "COLLECTOR_CONFIG": str(BENCH_CONFIG),
            **{f"COLLECTOR_TOPIC_{s.upper()}": f"{prefix}.{s}" for s in STREAMS},
            **environment,
        }
    ).start()


def per_event(
    before: Mapping[str, float], after: Mapping[str, float], events: int
) -> dict[str, float]:
    """Microseconds per event spent by each kind of thread between two readings."""
    return {
        name: round((spent - before.get(name, 0.0)) * 1e6 / max(events, 1), 2)
        for name, spent in sorted(after.items())
        if spent > before.get(name, 0.0)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--segment", action="store_true", help="Segment's /v1/batch, not /track")
    parser.add_argument(
        "--against",
        nargs="+",
        metavar="NAME=VALUE",
        help="compare: a second collector with this environment, run at the same time",
    )
    parser.add_argument("--rounds", type=int, default=4, help="timed rounds of a comparison")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    if args.segment:
        path, bodies = "/v1/batch", segment_bodies(2000, args.batch)
    else:
        path, bodies = "/track", track_bodies(2000, args.batch)
    requests = encode_requests(path, bodies)
    if args.against:
        changed = dict(setting.split("=", 1) for setting in args.against)
        result = compare(args, path, requests, changed)
    else:
        result = one_collector(args, path, requests)
    result["event_bytes"] = round(sum(map(len, bodies)) / (len(bodies) * args.batch))
    result.update(
        cpus=os.cpu_count(),
        python=platform.python_version(),
        commit=subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
    )
    print_figures(result, args.json)


def one_collector(args: argparse.Namespace, path: str, requests: list[bytes]) -> dict[str, Any]:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    collector = start_collector(prefix, {})
    assert collector.process is not None
    pid = collector.process.pid
    try:
        asyncio.run(load(collector.port, requests, args.batch, args.warmup, args.connections))
        broker = broker_pid()
        before = (cpu_seconds(pid), cpu_seconds(broker) if broker else 0.0, time.process_time())
        threads_before = thread_cpu_seconds(pid)
        started = time.monotonic()
        tally = asyncio.run(
            load(collector.port, requests, args.batch, args.seconds, args.connections)
        )
        elapsed = time.monotonic() - started
        after = (cpu_seconds(pid), cpu_seconds(broker) if broker else 0.0, time.process_time())
        threads_after = thread_cpu_seconds(pid)
        peak_rss = peak_rss_mib(pid)
    finally:
        status = collector.terminate()
        delete_topics(f"{prefix}.")
    if status != 0:
        sys.exit(f"collector exited with {status}:\n{collector.output()}")

    events = max(tally.events, 1)
    return {
        "route": path,
        "seconds": round(elapsed, 1),
        "connections": args.connections,
        "batch": args.batch,
        "requests": tally.requests,
        "failed_requests": tally.failures,
        "events": tally.events,
        "events_per_s": round(tally.events / elapsed),
        "collector_cpu_us_per_event": round((after[0] - before[0]) * 1e6 / events, 2),
        "collector_cpu_us_per_event_by_thread": per_event(threads_before, threads_after, events),
        "collector_cores_busy": round((after[0] - before[0]) / elapsed, 2),
        "collector_peak_rss_mib": round(peak_rss),
        "broker_cpu_us_per_event": round((after[1] - before[1]) * 1e6 / events, 2)
        if broker
        else None,
        "generator_cpu_us_per_event": round((after[2] - before[2]) * 1e6 / events, 2),
    }


def compare(
    args: argparse.Namespace, path: str, requests: list[bytes], changed: Mapping[str, str]
) -> dict[str, Any]:
    """Two collectors at once, the baseline and one with `changed` in its environment, each
    with its own topics and half the connections. Run side by side they share whatever the
    machine does meanwhile, so the ratio of their CPU per event varies far less from run to
    run than either figure does (a few percent against a fifth)."""
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    connections = max(args.connections // 2, 1)
    sides: dict[str, CollectorProcess] = {}
    rounds: list[dict[str, Any]] = []

    async def both(seconds: float) -> list[Tally]:
        return await asyncio.gather(
            *(
                load(collector.port, requests, args.batch, seconds, connections)
                for collector in sides.values()
            )
        )

    try:
        sides["baseline"] = start_collector(f"{prefix}.baseline", {})
        sides["changed"] = start_collector(f"{prefix}.changed", changed)
        pids = {}
        for name, collector in sides.items():
            assert collector.process is not None
            pids[name] = collector.process.pid
        asyncio.run(both(args.warmup))
        for _ in range(args.rounds):
            before = {
                name: (cpu_seconds(pid), thread_cpu_seconds(pid)) for name, pid in pids.items()
            }
            started = time.monotonic()
            tallies = dict(zip(sides, asyncio.run(both(args.seconds)), strict=True))
            elapsed = time.monotonic() - started
            after = {
                name: (cpu_seconds(pid), thread_cpu_seconds(pid)) for name, pid in pids.items()
            }
            figures: dict[str, Any] = {}
            for name, tally in tallies.items():
                events = max(tally.events, 1)
                figures[name] = {
                    "events_per_s": round(tally.events / elapsed),
                    "failed_requests": tally.failures,
                    "cpu_us_per_event": round((after[name][0] - before[name][0]) * 1e6 / events, 2),
                    "by_thread": per_event(before[name][1], after[name][1], events),
                }
            baseline = figures["baseline"]["cpu_us_per_event"]
            figures["ratio"] = (
                round(figures["changed"]["cpu_us_per_event"] / baseline, 3) if baseline else None
            )
            rounds.append(figures)
            if not args.json:
                print(json.dumps(figures), flush=True)
    finally:
        statuses = [collector.terminate() for collector in sides.values()]
        delete_topics(f"{prefix}.")
    if any(statuses):
        outputs = "\n".join(collector.output() for collector in sides.values())
        sys.exit(f"a collector exited with an error:\n{outputs}")
    ratios = [r["ratio"] for r in rounds if r["ratio"] is not None]
    return {
        "route": path,
        "against": dict(changed),
        "seconds_per_round": args.seconds,
        "connections_per_collector": connections,
        "batch": args.batch,
        "rounds": rounds,
        "median_ratio": round(statistics.median(ratios), 3) if ratios else None,
    }


if __name__ == "__main__":
    main()
