"""The sink's own wait for delivery reports, with a real librdkafka that cannot reach Kafka."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from collector.config import Settings
from collector.errors import DeliveryFailed, DeliveryTimedOut
from collector.metrics import Metrics
from collector.pipeline import Record
from collector.sinks import producer as twin
from collector.sinks.kafka import KafkaSink
from tests.support.metrics import sample
from tests.support.server import free_port

TOPIC = "sink.unreachable"


@pytest.fixture(params=["native", "python"])
def producer_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def unreachable_sink(delivery_timeout_ms: int, producer_kind: str) -> tuple[KafkaSink, Metrics]:
    """A sink on the native producer or on its twin, whose reports it serves the same way."""
    settings = Settings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}", delivery_timeout_ms=delivery_timeout_ms
    )
    metrics = Metrics()
    sink = KafkaSink(settings, metrics)
    if producer_kind == "python":
        sink._producer = twin.Producer(settings.producer_config())
    assert isinstance(sink._producer, twin.Producer) == (producer_kind == "python")
    return sink, metrics


async def reported(sink: KafkaSink) -> None:
    """Until librdkafka has reported every record it holds, and a moment for the event loop
    to serve the reports."""
    deadline = time.monotonic() + 15
    while len(sink._producer):
        assert time.monotonic() < deadline, "librdkafka never reported the record"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)


def test_request_without_reports_times_out_and_a_late_report_is_harmless(
    producer_kind: str,
) -> None:
    sink, metrics = unreachable_sink(1500, producer_kind)
    # The sink's own deadline, well before librdkafka gives up on the record at 1.5 s.
    sink._wait_s = 0.2
    errors: list[dict[str, Any]] = []

    async def scenario() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        sink.start()
        try:
            with pytest.raises(DeliveryTimedOut):
                await sink.send([Record(TOPIC, None, b"{}", ())], {TOPIC: 1})
            # librdkafka's failed report for that record comes after the answer; it must
            # find the request settled and change nothing.
            await reported(sink)
        finally:
            await sink.close(timeout_s=0.5)

    asyncio.run(scenario())
    assert errors == []
    text = metrics.render().decode()
    assert sample(text, "collector_records_failed_total", topic=TOPIC, reason="timeout") == 1
    assert sample(text, "collector_records_produced_total", topic=TOPIC) is None


def test_cancelled_request_then_its_report_is_harmless(producer_kind: str) -> None:
    sink, _metrics = unreachable_sink(500, producer_kind)
    errors: list[dict[str, Any]] = []

    async def scenario() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        sink.start()
        try:
            request = asyncio.ensure_future(sink.send([Record(TOPIC, None, b"{}", ())], {TOPIC: 1}))
            await asyncio.sleep(0.1)
            request.cancel()
            with pytest.raises(asyncio.CancelledError):
                await request
            await reported(sink)
            # The sink still answers the next request from its reports.
            with pytest.raises(DeliveryFailed):
                await sink.send([Record(TOPIC, None, b"{}", ())], {TOPIC: 1})
        finally:
            await sink.close(timeout_s=0.5)

    asyncio.run(scenario())
    assert errors == []


def test_close_counts_the_records_it_could_not_deliver(producer_kind: str) -> None:
    sink, _metrics = unreachable_sink(30_000, producer_kind)

    async def scenario() -> int:
        sink.start()
        request = asyncio.ensure_future(sink.send([Record(TOPIC, None, b"{}", ())], {TOPIC: 1}))
        await asyncio.sleep(0.1)
        assert sink.serving_reports
        remaining = await sink.close(timeout_s=0.3)
        assert not sink.serving_reports
        request.cancel()
        return remaining

    assert asyncio.run(scenario()) == 1
