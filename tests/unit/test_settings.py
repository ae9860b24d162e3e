"""Settings: every bad value is refused at start, naming the variable and what to write."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.errors import ConfigError
from exchange.settings import load_settings


def test_kafka_backbone_lists_its_brokers(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, backbone="kafka://10.0.0.5:9092, kafka-2:9093")
    assert settings.kafka_bootstrap == ["10.0.0.5:9092", "kafka-2:9093"]
    assert settings.kafka_min_insync == 1
    assert load_settings(home=tmp_path).kafka_bootstrap == []


@pytest.mark.parametrize("spec", ["kafka://", "kafka://host", "kafka://host:0", "kafka://h:1,h"])
def test_a_broker_address_without_a_port_is_refused(tmp_path: Path, spec: str) -> None:
    with pytest.raises(ConfigError, match=r"EXCHANGE_BACKBONE: .*is not HOST:PORT"):
        load_settings(home=tmp_path, backbone=spec)


def test_an_unknown_backbone_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'embedded'.*'kafka://HOST:PORT"):
        load_settings(home=tmp_path, backbone="amqp://broker:5672")


def test_replicated_topics_need_two_copies_by_default(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, kafka_replication_factor=3)
    assert settings.kafka_min_insync == 2
    chosen = load_settings(home=tmp_path, kafka_replication_factor=3, kafka_min_insync_replicas=3)
    assert chosen.kafka_min_insync == 3


def test_more_insync_replicas_than_copies_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no record could ever be acknowledged"):
        load_settings(home=tmp_path, kafka_replication_factor=2, kafka_min_insync_replicas=3)


def test_the_record_limit_has_bounds(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="EXCHANGE_KAFKA_MAX_RECORD_BYTES"):
        load_settings(home=tmp_path, kafka_max_record_bytes=1024)
