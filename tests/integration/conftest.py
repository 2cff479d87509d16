from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka.admin import AdminClient

from tests.support.kafka import bootstrap, delete_topics
from tests.support.server import CollectorProcess

StartCollector = Callable[..., CollectorProcess]

# The PII key of every collector the tests start; tests compute expected tokens with it.
PII_SECRET = "integration-test-pii-secret-0123456789"
# The write key of every collector the tests start; its source is left to the client library.
WRITE_KEY = "test-write-key"


@pytest.fixture(scope="session", autouse=True)
def kafka_broker() -> str:
    """The broker `make test` started (or KAFKA_BOOTSTRAP); its absence is a failure."""
    address = bootstrap()
    metadata = AdminClient({"bootstrap.servers": address}).list_topics(timeout=15)
    assert metadata.brokers, f"no Kafka broker answers at {address}"
    return address


@pytest.fixture
def topics() -> Iterator[dict[str, str]]:
    """Topic names of this test alone, so tests never read each other's records; deleted
    afterwards, DLQs included, so that a broker reused across runs does not pile them up."""
    prefix = f"test{uuid.uuid4().hex[:10]}"
    yield {
        "web": f"{prefix}.web",
        "mobile": f"{prefix}.mobile",
        "server": f"{prefix}.server",
        "bots": f"{prefix}.bots",
    }
    delete_topics(f"{prefix}.")


@pytest.fixture
def topic(topics: dict[str, str]) -> str:
    return topics["web"]


@pytest.fixture
def start_collector(topics: dict[str, str]) -> Iterator[StartCollector]:
    """Starts `collector serve` producing to the test's own topics."""
    started: list[CollectorProcess] = []

    def start(**env: str) -> CollectorProcess:
        settings = {
            "KAFKA_BOOTSTRAP": bootstrap(),
            "COLLECTOR_PII_SECRET": PII_SECRET,
            "COLLECTOR_WRITE_KEYS": f"{WRITE_KEY}:any",
            "COLLECTOR_TOPIC_PARTITIONS": "3",
            **{f"COLLECTOR_TOPIC_{stream.upper()}": name for stream, name in topics.items()},
        }
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
