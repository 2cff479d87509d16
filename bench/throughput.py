"""End-to-end throughput of `collector serve` against a real broker.

Starts the collector (producing to a fresh topic), drives it with a cheap load generator
(pre-encoded HTTP/1.1 requests over keep-alive connections, in this process), and prints
events/s and the CPU each process spent per event, read from /proc (all threads counted).

    python -m bench.throughput [--seconds 30] [--connections 32] [--batch 100] [--segment]
                               [--json]

--segment posts the same events in Segment's spelling to /v1/batch instead of /track.

Needs a broker: `make kafka-up` or KAFKA_BOOTSTRAP. On a 2-core machine the collector, the
broker and this generator share the cores; CPU per event is the figure that does not depend
on how they were shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

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
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--segment", action="store_true", help="Segment's /v1/batch, not /track")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    if args.segment:
        path, bodies = "/v1/batch", segment_bodies(2000, args.batch)
    else:
        path, bodies = "/track", track_bodies(2000, args.batch)
    requests = encode_requests(path, bodies)
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    collector = CollectorProcess(
        {
            "COLLECTOR_ENV": "development",
            # A quota no benchmark reaches: this measures the collector, not the limit.
            "COLLECTOR_CONFIG": str(BENCH_CONFIG),
            **{f"COLLECTOR_TOPIC_{s.upper()}": f"{prefix}.{s}" for s in STREAMS},
        }
    ).start()
    assert collector.process is not None
    pid = collector.process.pid
    try:
        asyncio.run(load(collector.port, requests, args.batch, args.warmup, args.connections))
        broker = broker_pid()
        before = (cpu_seconds(pid), cpu_seconds(broker) if broker else 0.0, time.process_time())
        started = time.monotonic()
        tally = asyncio.run(
            load(collector.port, requests, args.batch, args.seconds, args.connections)
        )
        elapsed = time.monotonic() - started
        after = (cpu_seconds(pid), cpu_seconds(broker) if broker else 0.0, time.process_time())
        peak_rss = peak_rss_mib(pid)
    finally:
        status = collector.terminate()
        delete_topics(f"{prefix}.")
    if status != 0:
        sys.exit(f"collector exited with {status}:\n{collector.output()}")

    events = max(tally.events, 1)
    result = {
        "route": path,
        "seconds": round(elapsed, 1),
        "connections": args.connections,
        "batch": args.batch,
        "event_bytes": round(sum(map(len, bodies)) / (len(bodies) * args.batch)),
        "requests": tally.requests,
        "failed_requests": tally.failures,
        "events": tally.events,
        "events_per_s": round(tally.events / elapsed),
        "collector_cpu_us_per_event": round((after[0] - before[0]) * 1e6 / events, 2),
        "collector_cores_busy": round((after[0] - before[0]) / elapsed, 2),
        "collector_peak_rss_mib": round(peak_rss),
        "broker_cpu_us_per_event": round((after[1] - before[1]) * 1e6 / events, 2)
        if broker
        else None,
        "generator_cpu_us_per_event": round((after[2] - before[2]) * 1e6 / events, 2),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
    }
    print_figures(result, args.json)


if __name__ == "__main__":
    main()
