"""What handing records to librdkafka costs, per record, and what zstd's level buys.

    python -m bench.produce [--batches 1000] [--json]

Records are the native pipeline's output for the seeded web mix (value ~600 bytes, a key,
five headers), produced to a fresh 12-partition topic of the local broker (KAFKA_BOOTSTRAP or
127.0.0.1:9092) with the collector's producer settings, delivery reports served by a thread
calling poll (the same for every way compared; the collector's sink serves them on its event
loop instead). CPU is this process's, all threads (librdkafka's
compression and I/O threads included), from the first record handed over to the last
delivery report. Compression ratio: message bytes over bytes sent, from librdkafka's stats.

Ways compared: `produce()` per record with a per-record delivery callback (the sink's
Python twin, collector/sinks/producer.py), `produce_batch()` (one call per request batch;
per-record reports still come back, but it silently drops headers), the native producer the
collector uses (collector._producer: librdkafka's C API from Cython, values not copied,
reports counted per request in C), and a plain C program on the same C API
(`rd_kafka_producev` with headers and a C delivery-report callback, bench/c/produce.c linked
against the system librdkafka from Debian's librdkafka-dev; skipped when that is not
installed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import struct
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from bench.pipeline import SECRET, USER_AGENT
from collector import native
from collector.config import Settings, from_environment
from collector.decoding import decode_batch
from collector.normalize import Received
from collector.pipeline import Record
from loadtest.payloads import client_ips, track_bodies
from tests.support.kafka import create_topic, delete_topics


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def records_of(batches: int) -> list[list[Record]]:
    pipeline = native.Pipeline(Settings(), SECRET)
    bodies = track_bodies(batches)
    ips = client_ips(batches)
    out = []
    for index, body in enumerate(bodies):
        received = Received(
            received_ms=1_795_703_600_000 + index * 20, client_ip=ips[index], user_agent=USER_AGENT
        )
        out.append(pipeline.process(decode_batch(body).events, received).records)
    return out


# This run's topics all start so; they are deleted at the end.
RUN_PREFIX = f"bench.produce.{uuid.uuid4().hex[:8]}."


def new_topic() -> str:
    """A fresh 12-partition topic, so that runs do not share batches or partitions."""
    topic = f"{RUN_PREFIX}{uuid.uuid4().hex[:8]}"
    create_topic(topic, partitions=12)
    return topic


def figures(
    method: str,
    level: int,
    total: int,
    reports: tuple[int, int],
    cpu: tuple[float, float],
    wall: tuple[float, float],
    compression_ratio: float | None,
) -> dict[str, Any]:
    """One run's line: `cpu` and `wall` as (hand-over, until the last report) seconds."""
    return {
        "method": method,
        "zstd_level": level,
        "records": total,
        "delivered": reports[0],
        "failed": reports[1],
        "handover_cpu_us_per_record": round(cpu[0] * 1e6 / total, 3),
        "handover_wall_us_per_record": round(wall[0] * 1e6 / total, 3),
        "total_cpu_us_per_record": round(cpu[1] * 1e6 / total, 3),
        "records_per_s": round(total / wall[1]),
        "compression_ratio": compression_ratio,
    }


def run(method: str, level: int, batches: list[list[Record]], bootstrap: str) -> dict[str, Any]:
    topic = new_topic()
    stats: dict[str, Any] = {}

    def on_stats(text: str) -> None:
        stats.update(json.loads(text))

    config: dict[str, Any] = {
        **from_environment(os.environ).producer_config(),
        "compression.level": str(level),
        "statistics.interval.ms": 500,
        "stats_cb": on_stats,
    }
    producer = Producer(config)
    total = sum(map(len, batches))
    delivered = 0
    failed = 0
    done = threading.Event()

    def on_delivery(error: object, message: object) -> None:
        nonlocal delivered, failed
        delivered += 1
        if error is not None:
            failed += 1
        if delivered == total:
            done.set()

    stopping = threading.Event()

    def poll() -> None:
        while not stopping.is_set():
            producer.poll(0.1)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    hand_over: Callable[[list[Record]], None]
    if method == "produce":

        def hand_over(records: list[Record]) -> None:
            for _topic, key, value, headers in records:
                while True:
                    try:
                        producer.produce(
                            topic, value, key, headers=list(headers), on_delivery=on_delivery
                        )  # type: ignore[arg-type]
                        break
                    except BufferError:
                        time.sleep(0.005)
    else:

        def hand_over(records: list[Record]) -> None:
            messages = [{"value": v, "key": k, "headers": list(h)} for _t, k, v, h in records]
            producer.produce_batch(topic, messages, on_delivery=on_delivery)

    started_cpu = process_cpu()
    started = time.perf_counter()
    for records in batches:
        hand_over(records)
    handed = time.perf_counter() - started
    handed_cpu = process_cpu() - started_cpu
    done.wait(120)
    elapsed = time.perf_counter() - started
    cpu = process_cpu() - started_cpu
    producer.flush(30)
    time.sleep(0.6)  # one more stats report
    stopping.set()
    poller.join()
    sent = stats.get("tx_bytes", 0)
    message_bytes = stats.get("txmsg_bytes", 0)
    ratio = round(message_bytes / sent, 2) if sent else None
    return figures(
        method, level, total, (delivered, failed), (handed_cpu, cpu), (handed, elapsed), ratio
    )


def run_native(level: int, batches: list[list[Record]], bootstrap: str) -> dict[str, Any]:
    """The same records through the collector's native producer, one send per request."""
    from collector._producer import Producer as NativeProducer

    topic = new_topic()
    config = {**from_environment(os.environ).producer_config(), "compression.level": str(level)}
    producer = NativeProducer(config)
    requests = [[Record(topic, k, v, h) for _t, k, v, h in records] for records in batches]
    total = sum(map(len, requests))
    delivered = failed = 0
    done = threading.Event()

    def count(reports: list[tuple[object, int, str | None]]) -> None:
        nonlocal delivered, failed
        for token, bad, _error in reports:
            delivered += token  # type: ignore[operator]
            failed += bad
        if delivered == total:
            done.set()

    stopping = threading.Event()

    def poll() -> None:
        while not stopping.is_set():
            count(producer.poll(0.1))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    started_cpu = process_cpu()
    started = time.perf_counter()
    for records in requests:
        while True:
            try:
                report = producer.send(records, len(records))
                break
            except BufferError:
                time.sleep(0.005)
        if report is not None:
            count([report])
    handed = time.perf_counter() - started
    handed_cpu = process_cpu() - started_cpu
    done.wait(120)
    elapsed = time.perf_counter() - started
    cpu = process_cpu() - started_cpu
    stopping.set()
    poller.join()
    producer.flush(30)
    return figures(
        "native collector._producer",
        level,
        total,
        (delivered, failed),
        (handed_cpu, cpu),
        (handed, elapsed),
        None,
    )


def run_c(level: int, batches: list[list[Record]], bootstrap: str) -> dict[str, Any] | None:
    """The same records through the C API, in a C program; None when it cannot be built."""
    root = Path(__file__).resolve().parent.parent
    binary = root / ".run" / "produce_c"
    compiler = shutil.which("cc")
    if compiler is None or not Path("/usr/include/librdkafka/rdkafka.h").exists():
        return None
    binary.parent.mkdir(exist_ok=True)
    source = root / "bench" / "c" / "produce.c"
    subprocess.run([compiler, "-O2", "-o", str(binary), str(source), "-lrdkafka"], check=True)
    records = [record for batch in batches for record in batch]
    parts = [struct.pack(">I", len(records))]
    for _topic, key, value, headers in records:
        parts.append(
            struct.pack(">I", 0xFFFFFFFF) if key is None else struct.pack(">I", len(key)) + key
        )
        parts.append(struct.pack(">I", len(value)) + value)
        parts.append(struct.pack(">I", len(headers)))
        for name, data in headers:
            parts.append(struct.pack(">I", len(name)) + name.encode())
            parts.append(struct.pack(">I", len(data)) + data)
    path = root / ".run" / "bench-records.bin"
    path.write_bytes(b"".join(parts))
    topic = new_topic()
    output = subprocess.run(
        [str(binary), str(path), bootstrap, topic, str(level)], check=True, capture_output=True
    ).stdout
    result: dict[str, Any] = json.loads(output)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    batches = records_of(args.batches)
    try:
        results = [
            run("produce", 1, batches, bootstrap),
            run("produce", 3, batches, bootstrap),
            run("produce_batch", 1, batches, bootstrap),
            run_native(1, batches, bootstrap),
            run("produce", 1, batches, bootstrap),
            run("produce", 3, batches, bootstrap),
            run_native(1, batches, bootstrap),
            run_native(3, batches, bootstrap),
        ]
        for level in (1, 3, 1):
            c_result = run_c(level, batches, bootstrap)
            if c_result is not None:
                results.append(c_result)
    finally:
        delete_topics(RUN_PREFIX)
    if args.json:
        print(json.dumps(results))
        return
    keys = ["method", "zstd_level", "delivered", "handover_cpu_us_per_record"]
    keys += ["total_cpu_us_per_record", "compression_ratio"]
    print(" | ".join(keys))
    for result in results:
        print(" | ".join(str(result.get(k, "")) for k in keys))


if __name__ == "__main__":
    main()
