"""Both producers against a real broker: the native one and its confluent-kafka twin.

Each test runs once per implementation; they must behave the same: every record arrives with
its key, value and headers, each request is reported once with its token, and refusals,
full queues and unreachable brokers are reported as the sink expects.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable

import pytest

from collector import native
from collector.config import Settings, Topics
from collector.normalize import Received
from collector.pipeline import Record
from collector.sinks import producer as twin
from tests.support.kafka import bootstrap, consume_all, create_topic
from tests.support.partitioner import partition_for
from tests.support.server import free_port

try:
    from collector import _producer
except ImportError:  # pragma: no cover - built wherever make setup ran
    _producer = None  # type: ignore[assignment]

MakeProducer = Callable[..., twin.Producer]


@pytest.fixture(params=["native", "python"])
def make_producer(request: pytest.FixtureRequest) -> MakeProducer:
    if request.param == "native":
        if _producer is None:
            pytest.fail("collector._producer is not built: is librdkafka-dev installed?")
        implementation = _producer.Producer
    else:
        implementation = twin.Producer

    def make(**overrides: str) -> twin.Producer:
        config = Settings(kafka_bootstrap=bootstrap()).producer_config()
        config.update(overrides)
        return implementation(config)

    return make


def wait_for_reports(
    producer: twin.Producer, count: int, timeout_s: float = 30
) -> list[twin.Report]:
    reports: list[twin.Report] = []
    deadline = time.monotonic() + timeout_s
    while len(reports) < count and time.monotonic() < deadline:
        reports += producer.poll(0.1)
    return reports


def records_for(topic: str, count: int, tag: str) -> list[Record]:
    return [
        Record(
            topic,
            None if i % 3 == 0 else f"key-{i}".encode(),
            f'{{"tag":"{tag}","i":{i},"text":"ünïcode"}}'.encode(),
            (("schema", b"activity.v1"), ("event_type", b"track"), ("empty", b"")),
        )
        for i in range(count)
    ]


def test_records_arrive_whole_and_each_request_is_reported_once(
    make_producer: MakeProducer, topic: str
) -> None:
    create_topic(topic, partitions=3)
    producer = make_producer()
    first, second = records_for(topic, 50, "a"), records_for(topic, 7, "b")
    immediate = [producer.send(first, "first"), producer.send(second, "second")]
    reports = [r for r in immediate if r is not None]
    reports += wait_for_reports(producer, 2 - len(reports))
    assert sorted(reports, key=lambda r: str(r[0])) == [("first", 0, None), ("second", 0, None)]
    assert producer.poll(0.2) == []
    assert len(producer) == 0

    sent = {(r.key, r.value, tuple(r.headers)) for r in first + second}
    consumed = consume_all(topic)
    assert len(consumed) == 57
    assert {(c.key, c.value, c.headers) for c in consumed} == sent


def test_the_reports_fd_signals_whenever_reports_wait(
    make_producer: MakeProducer, topic: str
) -> None:
    create_topic(topic, partitions=3)
    producer = make_producer()
    fd = producer.reports_fd()
    assert producer.reports_fd() == fd
    # Twice: a signal read and served must leave the next reports signalled as well.
    for round_ in ("a", "b"):
        tokens = [f"{round_}{i}" for i in range(3)]
        reports = [producer.send(records_for(topic, 20, token), token) for token in tokens]
        served = [r for r in reports if r is not None]
        deadline = time.monotonic() + 30
        while len(served) < len(tokens):
            readable, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            assert readable, f"reports were due and the descriptor stayed quiet: {served}"
            os.read(fd, 4096)
            served += producer.poll(0)
        assert sorted(served) == [(token, 0, None) for token in tokens]
    assert len(consume_all(topic)) == 120
    assert producer.flush(5) == 0


def test_reports_that_came_before_the_reports_fd_are_signalled(
    make_producer: MakeProducer, topic: str
) -> None:
    create_topic(topic, partitions=1)
    producer = make_producer()
    served = [r for r in [producer.send(records_for(topic, 5, "early"), "early")] if r]
    # In Kafka, so acknowledged: the report waits for a poll that has not come.
    deadline = time.monotonic() + 30
    while len(consume_all(topic)) < 5:
        assert time.monotonic() < deadline, "the records never arrived"
    time.sleep(0.2)
    fd = producer.reports_fd()
    while not served:
        readable, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert readable, "a report waited and the descriptor stayed quiet"
        os.read(fd, 4096)
        served += producer.poll(0)
    assert served == [("early", 0, None)]
    assert producer.flush(5) == 0


def test_headers_may_be_a_list_of_pairs(make_producer: MakeProducer, topic: str) -> None:
    create_topic(topic, partitions=1)
    producer = make_producer()
    pairs = [("schema", b"activity.v1"), ("event_type", b"track")]
    records = [Record(topic, None, b"{}", pairs)]  # type: ignore[arg-type]
    if producer.send(records, "t") is None:
        assert len(wait_for_reports(producer, 1)) == 1
    [consumed] = consume_all(topic)
    assert consumed.headers == (("schema", b"activity.v1"), ("event_type", b"track"))


def test_keys_are_partitioned_like_java_clients(make_producer: MakeProducer, topic: str) -> None:
    create_topic(topic, partitions=12)
    producer = make_producer()
    records = [Record(topic, f"user-{i}".encode(), b"{}", ()) for i in range(40)]
    if producer.send(records, "t") is None:
        assert len(wait_for_reports(producer, 1)) == 1
    for record in consume_all(topic):
        assert record.key is not None
        assert record.partition == partition_for(record.key, 12)


def test_a_record_the_broker_refuses_is_reported_failed(
    make_producer: MakeProducer, topic: str
) -> None:
    create_topic(topic, partitions=1, config={"max.message.bytes": "2048"})
    producer = make_producer()
    big = Record(topic, None, os.urandom(3000).hex().encode(), ())
    small = Record(topic, None, b'{"small":1}', ())
    assert producer.send([small, big], "mixed") is None
    [(token, failed, error)] = wait_for_reports(producer, 1)
    # The small record may share the big one's batch, and the broker refuses batches whole.
    assert token == "mixed"
    assert failed in {1, 2}
    assert error is not None and "too large" in error.lower()


def test_a_record_librdkafka_refuses_raises_refused(
    make_producer: MakeProducer, topic: str
) -> None:
    create_topic(topic, partitions=1)
    producer = make_producer(**{"message.max.bytes": "10000"})
    records = [*records_for(topic, 2, "x"), Record(topic, None, b"x" * 20_000, ())]
    with pytest.raises(twin.Refused, match=r"(?i)too large"):
        producer.send(records, "refused")
    # The two records handed over before the refusal are still delivered; no report is due.
    assert producer.flush(30) == 0
    assert producer.poll(0.1) == []
    assert len(consume_all(topic)) == 2


def test_a_full_queue_raises_buffer_error(make_producer: MakeProducer, topic: str) -> None:
    create_topic(topic, partitions=1)
    producer = make_producer(**{"queue.buffering.max.messages": "5", "linger.ms": "1000"})
    with pytest.raises(BufferError):
        producer.send(records_for(topic, 10, "full"), "full")
    assert producer.flush(30) == 0
    assert len(consume_all(topic)) == 5


def test_unreachable_broker_reports_failure_after_the_timeout(make_producer: MakeProducer) -> None:
    producer = make_producer(
        **{"bootstrap.servers": f"127.0.0.1:{free_port()}", "message.timeout.ms": "1000"}
    )
    assert not producer.has_brokers(0.3)
    assert producer.send(records_for("anywhere", 3, "lost"), "lost") is None
    assert len(producer) >= 3  # also counts queued events, such as connection errors
    [(token, failed, error)] = wait_for_reports(producer, 1, timeout_s=15)
    assert (token, failed) == ("lost", 3)
    assert error


def test_reachable_broker_has_brokers(make_producer: MakeProducer) -> None:
    assert make_producer().has_brokers(10)


def test_unknown_setting_is_a_value_error(make_producer: MakeProducer) -> None:
    with pytest.raises(ValueError, match=r"no\.such\.setting"):
        make_producer(**{"no.such.setting": "1"})


def test_a_native_pipelines_batch_arrives_as_its_records_say(
    make_producer: MakeProducer, topic: str
) -> None:
    # The native pipeline hands the producer its records in one buffer (Records), which the
    # native producer reads as it is and the twin through the sequence protocol.
    create_topic(topic, partitions=3)
    create_topic(f"{topic}.dlq", partitions=1)
    pipeline = native.Pipeline(Settings(topics=Topics(web=topic)), b"producer-test-secret-0123")
    keyed = (f'{{"event":"e","user_id":"u-{i}","properties":{{"i":{i}}}}}' for i in range(30))
    batch = [
        *(event.encode() for event in keyed),
        b'{"event":"anonymous"}',
        b'{"type":"track"}',
    ]
    browser = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
    received = Received(received_ms=1_795_700_000_000, user_agent=browser)
    records = pipeline.process(batch, received).records
    producer = make_producer()
    if producer.send(records, "batch") is None:
        assert wait_for_reports(producer, 1) == [("batch", 0, None)]

    consumed = consume_all(topic) + consume_all(f"{topic}.dlq")
    assert len(consumed) == len(records) == 32
    assert sorted((c.key or b"", c.value, c.headers) for c in consumed) == sorted(
        (r.key or b"", r.value, tuple(r.headers)) for r in records
    )


def test_the_collector_uses_the_native_producer() -> None:
    # make setup installs librdkafka's headers, so the module must have been built; only
    # COLLECTOR_NATIVE=0 turns it off.
    assert _producer is not None
    expected = "python" if os.environ.get("COLLECTOR_NATIVE") == "0" else "native"
    assert expected == native.PRODUCER_IMPLEMENTATION
    assert (native.Producer is _producer.Producer) == (expected == "native")
    # ... and reads the native pipeline's batches straight from their buffer.
    assert _producer._Records is not None
    assert _producer._Records.__module__ == "collector._hotpath"


def test_a_malformed_record_raises_and_leaves_the_producer_working(
    make_producer: MakeProducer, topic: str
) -> None:
    create_topic(topic, partitions=1)
    producer = make_producer()
    good = records_for(topic, 2, "good")
    bad = Record(topic, None, 123, (("schema", b"activity.v1"),))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        producer.send([*good, bad], "bad")
    assert producer.flush(30) == 0
    assert producer.poll(0.1) == []
    report = producer.send(good, "again")
    reports = [report] if report is not None else wait_for_reports(producer, 1)
    assert reports == [("again", 0, None)]
    assert len(consume_all(topic)) == 4
