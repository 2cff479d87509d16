# The browser tests run against the same real collector and broker as the integration tests.
from tests.integration.conftest import kafka_broker, start_collector, topic, topics

__all__ = ["kafka_broker", "start_collector", "topic", "topics"]
