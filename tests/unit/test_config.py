import pytest

from collector.config import PRODUCER_DEFAULTS, ConfigError, Settings, from_environment


def test_defaults_without_environment() -> None:
    settings = from_environment({})
    assert settings == Settings()
    assert settings.topic_web == "events.web"
    assert settings.topic_partitions == 12
    assert settings.max_body_bytes == 1024 * 1024


def test_environment_values_are_converted() -> None:
    settings = from_environment(
        {
            "COLLECTOR_PORT": "9000",
            "KAFKA_BOOTSTRAP": "k1:9092,k2:9092",
            "COLLECTOR_MAX_BODY_BYTES": "2048",
            "COLLECTOR_CREATE_TOPICS": "false",
        }
    )
    assert settings.port == 9000
    assert settings.kafka_bootstrap == "k1:9092,k2:9092"
    assert settings.max_body_bytes == 2048
    assert settings.create_topics is False


def test_cli_overrides_win_and_none_means_not_given() -> None:
    settings = from_environment({"COLLECTOR_PORT": "9000"}, port=9100, host=None)
    assert settings.port == 9100
    assert settings.host == "127.0.0.1"


def test_malformed_values_are_refused() -> None:
    with pytest.raises(ConfigError, match="port"):
        from_environment({"COLLECTOR_PORT": "eighty"})


def test_producer_config_is_durable_and_compressed_and_overridable() -> None:
    settings = from_environment(
        {"COLLECTOR_KAFKA_LINGER_MS": "50", "COLLECTOR_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}
    )
    config = settings.producer_config()
    assert config["acks"] == "all"
    assert config["enable.idempotence"] == "true"
    assert config["compression.type"] == "zstd"
    assert config["partitioner"] == "murmur2_random"
    assert config["linger.ms"] == "50"
    assert config["security.protocol"] == "SASL_SSL"
    assert config["message.timeout.ms"] == str(settings.delivery_timeout_ms)
    assert PRODUCER_DEFAULTS["linger.ms"] != "50"
