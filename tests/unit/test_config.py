from pathlib import Path

import pytest

from collector.config import (
    PRODUCER_DEFAULTS,
    Bots,
    ConfigError,
    HotKeys,
    Limits,
    Pii,
    Settings,
    Topics,
    WriteKey,
    from_environment,
)


def write_config(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "collector.toml"
    path.write_text(text)
    return {"COLLECTOR_CONFIG": str(path)}


def test_from_environment_defaults_without_environment() -> None:
    settings = from_environment({})
    assert settings == Settings()
    assert settings.port == 8080
    assert settings.environment == "production"
    assert settings.topics == Topics()
    assert settings.topics.web == "events.web"
    assert settings.topic_partitions == 12
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.pii.secret is None
    assert settings.producer_overrides == {}


def test_from_environment_ignores_unrelated_variables() -> None:
    assert from_environment({"PATH": "/usr/bin", "COLLECTOR_UNKNOWN": "x"}) == Settings()


def test_from_environment_converts_values() -> None:
    settings = from_environment(
        {
            "COLLECTOR_PORT": "9000",
            "COLLECTOR_HOST": "0.0.0.0",
            "KAFKA_BOOTSTRAP": "k1:9092,k2:9092",
            "COLLECTOR_MAX_BODY_BYTES": "2048",
            "COLLECTOR_CREATE_TOPICS": "false",
            "COLLECTOR_TOPIC_REPLICATION": "-1",
            "COLLECTOR_ENV": "development",
            "COLLECTOR_TENANT": "acme",
        }
    )
    assert settings.port == 9000
    assert settings.host == "0.0.0.0"
    assert settings.kafka_bootstrap == "k1:9092,k2:9092"
    assert settings.max_body_bytes == 2048
    assert settings.create_topics is False
    assert settings.topic_replication == -1
    assert settings.environment == "development"
    assert settings.tenant == "acme"


@pytest.mark.parametrize(("text", "value"), [("true", True), ("false", False), ("1", True)])
def test_from_environment_converts_booleans(text: str, value: bool) -> None:
    assert from_environment({"COLLECTOR_CREATE_TOPICS": text}).create_topics is value


def test_from_environment_sets_nested_sections() -> None:
    settings = from_environment(
        {
            "COLLECTOR_TOPIC_WEB": "acme.web",
            "COLLECTOR_TOPIC_MOBILE": "acme.mobile",
            "COLLECTOR_TOPIC_SERVER": "acme.server",
            "COLLECTOR_TOPIC_BOTS": "acme.bots",
            "COLLECTOR_PII_SECRET": "s3cret-of-enough-length",
            "COLLECTOR_PII_SECRET_FILE": "/run/secrets/pii",
            "COLLECTOR_PII_KEY_ID": "k-2026",
            "COLLECTOR_BOT_ACTION": "drop",
        }
    )
    assert settings.topics == Topics(
        web="acme.web", mobile="acme.mobile", server="acme.server", bots="acme.bots"
    )
    assert settings.pii.secret == "s3cret-of-enough-length"
    assert settings.pii.secret_file == "/run/secrets/pii"
    assert settings.pii.key_id == "k-2026"
    assert settings.bots.action == "drop"
    # Setting one field of a section keeps the section's other defaults.
    assert settings.pii.rules == Pii().rules
    assert settings.bots.max_events_per_ip == Bots().max_events_per_ip


@pytest.mark.parametrize(
    ("environ", "field"),
    [
        ({"COLLECTOR_PORT": "eighty"}, "port"),
        ({"COLLECTOR_PORT": "80.5"}, "port"),
        ({"COLLECTOR_CREATE_TOPICS": "maybe"}, "create_topics"),
        ({"COLLECTOR_TOPIC_PARTITIONS": "twelve"}, "topic_partitions"),
        ({"COLLECTOR_BOT_ACTION": "block"}, "bots.action"),
        ({"COLLECTOR_ENV": "staging"}, "environment"),
    ],
)
def test_from_environment_malformed_values_are_refused(environ: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigError, match=rf"invalid configuration: .*\b{field}\b"):
        from_environment(environ)


def test_from_environment_reads_the_config_file(tmp_path: Path) -> None:
    environ = write_config(
        tmp_path,
        """
port = 9000
tenant = "acme"

[topics]
web = "acme.web"

[limits]
max_event_bytes = 4096
max_depth = 5

[bots]
action = "drop"
max_events_per_ip = 100

[hot_keys]
max_events_per_key = 50
salts = 4

[pii]
scrub_paths = ["properties"]

[pii.rules]
user_id = "tokenize"
"properties.*.phone" = "mask"
"**.ssn" = "drop"
""",
    )
    settings = from_environment(environ)
    assert settings.port == 9000
    assert settings.tenant == "acme"
    assert settings.topics == Topics(web="acme.web")
    assert settings.limits == Limits(max_event_bytes=4096, max_depth=5)
    assert settings.bots == Bots(action="drop", max_events_per_ip=100)
    assert settings.hot_keys == HotKeys(max_events_per_key=50, salts=4)
    # The file's rules replace the default ones.
    assert settings.pii.rules == {
        "user_id": "tokenize",
        "properties.*.phone": "mask",
        "**.ssn": "drop",
    }
    assert settings.pii.scrub_paths == ["properties"]


def test_from_environment_environment_overrides_the_file(tmp_path: Path) -> None:
    environ = write_config(
        tmp_path,
        """
port = 9000
host = "0.0.0.0"

[topics]
web = "file.web"
mobile = "file.mobile"

[pii]
secret = "from-the-file-xxxxxxxx"

[pii.rules]
"context.ip" = "drop"
""",
    )
    settings = from_environment(
        {
            **environ,
            "COLLECTOR_PORT": "9100",
            "COLLECTOR_TOPIC_WEB": "env.web",
            "COLLECTOR_PII_SECRET": "from-the-environment-xx",
        }
    )
    assert settings.port == 9100
    assert settings.host == "0.0.0.0"
    assert settings.topics == Topics(web="env.web", mobile="file.mobile")
    assert settings.pii.secret == "from-the-environment-xx"
    assert settings.pii.rules == {"context.ip": "drop"}


@pytest.mark.parametrize(
    "text",
    [
        "prot = 9000\n",
        "[limits]\nmax_event_byte = 1\n",
        "[pii]\nsecrets = 'x'\n",
        "[pii.rules]\n'user_id' = 'hash'\n",
        "[kafka]\nlinger_ms = 5\n",
    ],
)
def test_from_environment_refuses_unknown_keys_in_the_file(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="invalid configuration"):
        from_environment(write_config(tmp_path, text))


def test_from_environment_refuses_a_wrong_type_in_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"limits\.max_depth"):
        from_environment(write_config(tmp_path, '[limits]\nmax_depth = "deep"\n'))


@pytest.mark.parametrize(
    "line",
    [
        "max_depth = 0",
        "max_properties = -1",
        "max_string_length = 0",
        "max_event_bytes = 0",
        "max_future_ms = -1",
    ],
)
def test_from_environment_refuses_limits_that_reject_everything(tmp_path: Path, line: str) -> None:
    with pytest.raises(ConfigError, match=rf"limits\.{line.split()[0]}"):
        from_environment(write_config(tmp_path, f"[limits]\n{line}\n"))


def test_from_environment_refuses_malformed_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read COLLECTOR_CONFIG"):
        from_environment(write_config(tmp_path, "port = = 9000\n"))


def test_from_environment_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read COLLECTOR_CONFIG"):
        from_environment({"COLLECTOR_CONFIG": str(tmp_path / "absent.toml")})


def test_from_environment_cli_overrides_win_and_none_means_not_given() -> None:
    settings = from_environment({"COLLECTOR_PORT": "9000", "COLLECTOR_HOST": "::"}, port=9100)
    assert settings.port == 9100
    assert settings.host == "::"
    settings = from_environment({"COLLECTOR_PORT": "9000"}, port=None, host=None)
    assert settings.port == 9000
    assert settings.host == "127.0.0.1"


def test_from_environment_cli_overrides_win_over_the_file(tmp_path: Path) -> None:
    environ = write_config(tmp_path, 'port = 9000\nhost = "0.0.0.0"\n')
    settings = from_environment(environ, port=9200, host=None)
    assert settings.port == 9200
    assert settings.host == "0.0.0.0"


def test_from_environment_malformed_cli_override_is_refused() -> None:
    with pytest.raises(ConfigError, match="port"):
        from_environment({}, port="eighty")


def test_producer_config_is_durable_and_compressed() -> None:
    settings = Settings()
    config = settings.producer_config()
    assert config["acks"] == "all"
    assert config["enable.idempotence"] == "true"
    assert config["compression.type"] == "zstd"
    assert config["partitioner"] == "murmur2_random"
    assert config["bootstrap.servers"] == settings.kafka_bootstrap
    assert config["message.timeout.ms"] == "30000"
    assert {k: v for k, v in config.items() if k in PRODUCER_DEFAULTS} == PRODUCER_DEFAULTS


def test_producer_config_follows_bootstrap_and_delivery_timeout() -> None:
    settings = from_environment(
        {"KAFKA_BOOTSTRAP": "k1:9092,k2:9092", "COLLECTOR_DELIVERY_TIMEOUT_MS": "5000"}
    )
    config = settings.producer_config()
    assert config["bootstrap.servers"] == "k1:9092,k2:9092"
    assert config["message.timeout.ms"] == "5000"


def test_producer_config_kafka_overrides_from_the_environment() -> None:
    settings = from_environment(
        {
            "COLLECTOR_KAFKA_LINGER_MS": "50",
            "COLLECTOR_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "COLLECTOR_KAFKA_COMPRESSION_TYPE": "lz4",
        }
    )
    assert settings.producer_overrides == {
        "linger.ms": "50",
        "security.protocol": "SASL_SSL",
        "compression.type": "lz4",
    }
    config = settings.producer_config()
    assert config["linger.ms"] == "50"
    assert config["security.protocol"] == "SASL_SSL"
    assert config["compression.type"] == "lz4"
    assert config["acks"] == "all"
    assert PRODUCER_DEFAULTS["linger.ms"] == "5"


def test_producer_config_merges_file_and_environment_overrides(tmp_path: Path) -> None:
    environ = write_config(
        tmp_path, '[producer_overrides]\n"linger.ms" = "20"\n"batch.size" = "500000"\n'
    )
    settings = from_environment({**environ, "COLLECTOR_KAFKA_LINGER_MS": "30"})
    assert settings.producer_overrides == {"linger.ms": "30", "batch.size": "500000"}
    assert settings.producer_config()["batch.size"] == "500000"


def test_producer_overrides_of_settings_the_collector_owns_are_refused() -> None:
    for name in ("BOOTSTRAP_SERVERS", "MESSAGE_TIMEOUT_MS", "DELIVERY_TIMEOUT_MS"):
        with pytest.raises(ConfigError, match="through COLLECTOR_DELIVERY_TIMEOUT_MS"):
            from_environment({f"COLLECTOR_KAFKA_{name}": "5"})


@pytest.mark.parametrize(
    ("name", "value"), [("ACKS", "1"), ("ACKS", "0"), ("ENABLE_IDEMPOTENCE", "false")]
)
def test_producer_overrides_that_weaken_delivery_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match="2xx for events Kafka may still lose"):
        from_environment({f"COLLECTOR_KAFKA_{name}": value})


def test_producer_overrides_in_the_file_may_be_numbers(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[producer_overrides]\n"linger.ms" = 20\n"acks" = -1\n')
    config = from_environment({"COLLECTOR_CONFIG": str(path)}).producer_config()
    assert (config["linger.ms"], config["acks"]) == ("20", "-1")


@pytest.mark.parametrize(
    "section",
    ["[bots]\nrate_window_s = 0", "[hot_keys]\nsalts = 0", "[write_keys.k]\nrate_per_s = 0"],
)
def test_zero_windows_salts_and_rates_are_refused(tmp_path: Path, section: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(section + "\n")
    with pytest.raises(ConfigError):
        from_environment({"COLLECTOR_CONFIG": str(path)})


def test_env_write_keys_add_to_the_file_not_replace_it(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[write_keys.k1]\nname = "shop"\ntenant = "acme"\n')
    settings = from_environment({"COLLECTOR_CONFIG": str(path), "COLLECTOR_WRITE_KEYS": "k1:web"})
    key = settings.write_keys["k1"]
    assert (key.name, key.tenant, key.source) == ("shop", "acme", "web")


def test_topics_to_create_are_the_streams_bots_and_dlqs_with_their_partitions() -> None:
    assert Settings().topics_to_create() == {
        "events.web": 12,
        "events.mobile": 12,
        "events.server": 12,
        "events.bots": 3,
        "events.web.dlq": 3,
        "events.mobile.dlq": 3,
        "events.server.dlq": 3,
    }


def test_topics_to_create_follow_configured_names_and_partitions() -> None:
    settings = from_environment(
        {
            "COLLECTOR_TOPIC_WEB": "w",
            "COLLECTOR_TOPIC_BOTS": "b",
            "COLLECTOR_TOPIC_PARTITIONS": "24",
            "COLLECTOR_TOPIC_PARTITIONS_BOTS": "6",
            "COLLECTOR_TOPIC_PARTITIONS_DLQ": "1",
        }
    )
    assert settings.topics_to_create() == {
        "w": 24,
        "events.mobile": 24,
        "events.server": 24,
        "b": 6,
        "w.dlq": 1,
        "events.mobile.dlq": 1,
        "events.server.dlq": 1,
    }


@pytest.mark.parametrize(
    ("key_topics", "shared"),
    [
        # This key's bot-flagged events go to the others' web topic ...
        (Topics(bots="events.web"), "events.web"),
        # ... or its web events to the others' bots topic.
        (Topics(web="events.bots"), "events.bots"),
    ],
)
def test_a_topic_that_is_an_activity_topic_anywhere_gets_their_partitions(
    key_topics: Topics, shared: str
) -> None:
    topics = Settings(write_keys={"k": WriteKey(topics=key_topics)}).topics_to_create()
    assert topics[shared] == 12


@pytest.mark.parametrize(
    "variable", ["COLLECTOR_TOPIC_PARTITIONS", "COLLECTOR_TOPIC_PARTITIONS_BOTS"]
)
@pytest.mark.parametrize("value", ["0", "-2"])
def test_partition_counts_must_be_positive_or_the_brokers_default(
    variable: str, value: str
) -> None:
    with pytest.raises(ConfigError, match="partitions must be at least 1"):
        from_environment({variable: value})
    assert from_environment({variable: "-1"})


@pytest.mark.parametrize(
    ("text", "variable"),
    [
        ('pii = "x"\n', "COLLECTOR_PII_SECRET"),
        ('topics = "x"\n', "COLLECTOR_TOPIC_WEB"),
        ('producer_overrides = "x"\n', "COLLECTOR_KAFKA_LINGER_MS"),
    ],
)
def test_from_environment_refuses_a_file_section_that_is_not_a_table(
    tmp_path: Path, text: str, variable: str
) -> None:
    environ = {**write_config(tmp_path, text), variable: "value-of-enough-length"}
    with pytest.raises(ConfigError):
        from_environment(environ)
