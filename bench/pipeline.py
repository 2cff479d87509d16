"""Events/s of the event pipeline on one core: request body bytes in, Kafka records out.

    python -m bench.pipeline [--seconds 10] [--json] [--produce] [--segment]

Runs in this process (one core), on the seeded web mix of loadtest/payloads.py (batches of
100, ~350 bytes per event, 50,000 visitors, 3 % crawlers, PII in some free text) with the
default bot and PII policy, free-text scrubbing included. The clock is simulated: a site
sending 5,000 events/s, so the rate heuristics see a realistic spread of visitors.

Printed for the native hot path and its pure-Python twin, measured in the same run:
events/s and their ratio, plus the bare bridge of the walking skeleton (decode the body into
dicts, encode each event back) as a yardstick for this machine. With --produce, also the cost
of going on to hand every record to librdkafka (a local broker: KAFKA_BOOTSTRAP or
127.0.0.1:9092), CPU of all this process's threads counted. With --segment, also the same
events in Segment's spelling (loadtest.payloads.segment_bodies, as /v1/batch takes them)
through both paths.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import uuid
from collections.abc import Callable

import msgspec

from bench import print_figures
from collector import native
from collector.config import Settings
from collector.decoding import decode_batch, decode_with_msgspec
from collector.normalize import Received
from collector.pipeline import Pipeline as PythonPipeline
from collector.pipeline import Record
from collector.sources.segment import decode_segment_batch, decode_segment_batch_with_msgspec
from loadtest.payloads import client_ips, segment_bodies, track_bodies
from tests.support.kafka import create_topic, delete_topics

BATCH = 100
SITE_EVENTS_PER_S = 5_000
START_MS = 1_795_700_000_000 + 3_600_000
SECRET = b"benchmark-secret-0123456789abcdef"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"

RunBatch = Callable[[bytes, int, str], list[Record] | int]


def process_cpu() -> float:
    """CPU seconds of every thread of this process (librdkafka's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(run_batch: RunBatch, bodies: list[bytes], seconds: float) -> float:
    """Events per CPU-second of `run_batch`, cycling over the bodies for `seconds` of CPU."""
    ips = client_ips(len(bodies))
    events = batches = 0
    started = process_cpu()
    while True:
        for index, body in enumerate(bodies):
            now = START_MS + batches * BATCH * 1000 // SITE_EVENTS_PER_S
            run_batch(body, now, ips[index])
            events += BATCH
            batches += 1
        elapsed = process_cpu() - started
        if elapsed >= seconds:
            return events / elapsed


def through(
    pipeline: PythonPipeline, segment: bool = False
) -> Callable[[bytes, int, str], list[Record]]:
    # The twin is timed on Python and msgspec alone, the native pipeline with the native
    # splitter in front, as each runs in the collector.
    twin = type(pipeline) is PythonPipeline
    if segment:
        decode = decode_segment_batch_with_msgspec if twin else decode_segment_batch
    else:
        decode = decode_with_msgspec if twin else decode_batch
    dialect = "segment" if segment else "track"

    def run_batch(body: bytes, now: int, ip: str) -> list[Record]:
        batch = decode(body)
        received = Received(received_ms=now, client_ip=ip, user_agent=USER_AGENT, dialect=dialect)
        return pipeline.process(batch.events, received).records

    return run_batch


def bare_bridge(body: bytes, now: int, ip: str) -> int:
    events = msgspec.json.decode(body)
    for event in events:
        msgspec.json.encode(event)
    return len(events)


def produce_figure(bodies: list[bytes], seconds: float) -> dict[str, object]:
    """Body bytes to records handed to librdkafka, delivery reports served, per CPU-second.

    The collector's own producer (collector.native.Producer), one send per batch, reports
    served in this thread between batches.
    """
    from collector.config import from_environment

    settings = from_environment(os.environ)
    topic = f"bench.pipeline.{uuid.uuid4().hex[:8]}"
    create_topic(topic, partitions=12)
    producer = native.Producer(settings.producer_config())
    pipeline = through(native.Pipeline(Settings(), SECRET))
    reports = failed = 0

    def count(finished: list[tuple[object, int, str | None]]) -> None:
        nonlocal reports, failed
        reports += len(finished)
        failed += sum(bad for _token, bad, _error in finished)

    def run_batch(body: bytes, now: int, ip: str) -> int:
        records = [Record(topic, k, v, h) for _t, k, v, h in pipeline(body, now, ip)]
        while True:
            try:
                report = producer.send(records, None)
                break
            except BufferError:
                count(producer.poll(0.05))
        if report is not None:
            count([report])
        count(producer.poll(0))
        return BATCH

    rate = measure(run_batch, bodies, seconds)
    producer.flush(60)
    delete_topics(topic)
    return {
        "native_to_librdkafka_events_per_s": round(rate),
        "native_to_librdkafka_us_per_event": round(1e6 / rate, 2),
        "producer_implementation": native.PRODUCER_IMPLEMENTATION,
        "requests_failed": failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batches", type=int, default=500)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--produce", action="store_true", help="also hand records to Kafka")
    parser.add_argument("--segment", action="store_true", help="also the Segment-spelled mix")
    args = parser.parse_args()

    bodies = track_bodies(args.batches, BATCH)
    baseline = measure(bare_bridge, bodies, args.seconds / 2)
    twin = measure(through(PythonPipeline(Settings(), SECRET)), bodies, args.seconds)
    fast = measure(through(native.Pipeline(Settings(), SECRET)), bodies, args.seconds)
    result: dict[str, object] = {
        "native_implementation": native.IMPLEMENTATION,
        "event_bytes": round(sum(map(len, bodies)) / (len(bodies) * BATCH)),
        "batch": BATCH,
        "native_events_per_s": round(fast),
        "native_us_per_event": round(1e6 / fast, 2),
        "python_events_per_s": round(twin),
        "python_us_per_event": round(1e6 / twin, 2),
        "native_over_python": round(fast / twin, 2),
        "bare_bridge_events_per_s": round(baseline),
        "native_over_bare_bridge": round(fast / baseline, 3),
        "python": platform.python_version(),
    }
    if args.segment:
        spelled = segment_bodies(args.batches, BATCH)
        twin = measure(
            through(PythonPipeline(Settings(), SECRET), segment=True), spelled, args.seconds
        )
        fast = measure(
            through(native.Pipeline(Settings(), SECRET), segment=True), spelled, args.seconds
        )
        result.update(
            segment_event_bytes=round(sum(map(len, spelled)) / (len(spelled) * BATCH)),
            segment_native_us_per_event=round(1e6 / fast, 2),
            segment_python_us_per_event=round(1e6 / twin, 2),
            segment_native_over_python=round(fast / twin, 2),
        )
    if args.produce:
        result.update(produce_figure(bodies, args.seconds))
    print_figures(result, args.json)


if __name__ == "__main__":
    main()
