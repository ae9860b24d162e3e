"""The backbone: publish durably, consume as a group, commit.

``open_backbone`` turns the ``EXCHANGE_BACKBONE`` setting into a backbone object; the caller
starts it (``await backbone.start()``) and closes it.
"""

from __future__ import annotations

from exchange.backbone.base import (
    Backbone,
    Capabilities,
    ConsumedRecord,
    Consumer,
    OwnershipLost,
    Record,
    TopicPartition,
)
from exchange.backbone.claims import ClaimStore
from exchange.backbone.embedded import EmbeddedBackbone
from exchange.backbone.embedded_retention import Retention
from exchange.backbone.kafka import KafkaBackbone, KafkaConfig
from exchange.errors import ConfigError
from exchange.settings import Settings

__all__ = [
    "Backbone",
    "Capabilities",
    "ConsumedRecord",
    "Consumer",
    "EmbeddedBackbone",
    "KafkaBackbone",
    "KafkaConfig",
    "OwnershipLost",
    "Record",
    "TopicPartition",
    "open_backbone",
]


def open_backbone(settings: Settings) -> Backbone:
    """The backbone named by ``settings.backbone`` (not started yet)."""
    spec = settings.backbone
    if spec == "embedded" or spec.startswith("embedded://"):
        retention = Retention(ms=settings.retention_ms, bytes=settings.retention_bytes)
        return EmbeddedBackbone(settings.backbone_path, retention=retention)
    if spec.startswith("kafka://"):
        claims = ClaimStore(settings.resolved_database_url)
        return KafkaBackbone(KafkaConfig.from_settings(settings), claims)
    raise ConfigError(
        f"EXCHANGE_BACKBONE={spec!r} names no known backbone; the backbones are 'embedded' "
        "(SQLite log in the data folder), 'embedded:///path/to/log.db' and "
        "'kafka://HOST:PORT[,HOST:PORT...]'"
    )
