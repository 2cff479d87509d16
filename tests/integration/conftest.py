from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from confluent_kafka.admin import AdminClient

from tests.support.kafka import bootstrap, unique_topic
from tests.support.server import CollectorProcess

StartCollector = Callable[..., CollectorProcess]


@pytest.fixture(scope="session", autouse=True)
def kafka_broker() -> str:
    """The broker `make test` started (or KAFKA_BOOTSTRAP); its absence is a failure."""
    address = bootstrap()
    metadata = AdminClient({"bootstrap.servers": address}).list_topics(timeout=15)
    assert metadata.brokers, f"no Kafka broker answers at {address}"
    return address


@pytest.fixture
def topic() -> str:
    return unique_topic("events.web")


@pytest.fixture
def start_collector(topic: str) -> Iterator[StartCollector]:
    """Starts `collector serve` producing web events to the test's own topic."""
    started: list[CollectorProcess] = []

    def start(**env: str) -> CollectorProcess:
        settings = {"COLLECTOR_TOPIC_WEB": topic, "KAFKA_BOOTSTRAP": bootstrap()}
        settings.update(env)
        process = CollectorProcess(settings).start()
        started.append(process)
        return process

    yield start
    for process in started:
        status = process.terminate()
        output = process.output()
        process.log.close()
        assert status == 0, f"collector exited with {status}:\n{output}"
