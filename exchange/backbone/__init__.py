"""The backbone: publish durably, consume as a group, commit.

``open_backbone`` turns the ``EXCHANGE_BACKBONE`` setting into a backbone object; the caller
starts it (``await backbone.start()``) and closes it.  The setting's scheme (``embedded``,
``kafka://...``, or ``NAME://...``) picks the backbone kind from ``BACKBONE_KINDS``:
the built-ins plus the entry point group ``exchange.backbones``, whose entries name a
function ``(settings) -> Backbone`` in an installed package.
"""

from __future__ import annotations

from collections.abc import Callable

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
from exchange.errors import ConfigError, PluginError
from exchange.plugins import PluginRegistry
from exchange.settings import Settings

__all__ = [
    "BACKBONE_KINDS",
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


BackboneFactory = Callable[[Settings], Backbone]
ENTRY_POINT_GROUP = "exchange.backbones"


def _embedded(settings: Settings) -> Backbone:
    retention = Retention(ms=settings.retention_ms, bytes=settings.retention_bytes)
    return EmbeddedBackbone(settings.backbone_path, retention=retention)


def _kafka(settings: Settings) -> Backbone:
    claims = ClaimStore(settings.resolved_database_url)
    return KafkaBackbone(KafkaConfig.from_settings(settings), claims)


BACKBONE_KINDS: PluginRegistry[BackboneFactory] = PluginRegistry(
    "backbone",
    ENTRY_POINT_GROUP,
    {"embedded": _embedded, "kafka": _kafka},
    check=callable,
    expected="a function (settings) -> Backbone",
)


def open_backbone(settings: Settings) -> Backbone:
    """The backbone named by ``settings.backbone`` (not started yet)."""
    spec = settings.backbone
    kind = spec.partition("://")[0] if "://" in spec else spec
    if kind not in BACKBONE_KINDS or (kind == "kafka" and "://" not in spec):
        raise ConfigError(
            f"EXCHANGE_BACKBONE={spec!r} names no known backbone; the backbones are 'embedded' "
            "(SQLite log in the data folder), 'embedded:///path/to/log.db' and "
            "'kafka://HOST:PORT[,HOST:PORT...]'" + _plugins_hint()
        )
    try:
        factory = BACKBONE_KINDS.get(kind)
    except PluginError as exc:
        raise ConfigError(f"EXCHANGE_BACKBONE={spec!r}: {exc}") from exc
    return factory(settings)


def _plugins_hint() -> str:
    plugins = [k for k in BACKBONE_KINDS.kinds() if k not in ("embedded", "kafka")]
    listed = f" and the plug-ins {', '.join(plugins)} (NAME://...)" if plugins else ""
    return f"{listed}; plug-in backbones register in the entry point group '{ENTRY_POINT_GROUP}'"
