"""Typed settings from ``EXCHANGE_*`` environment variables, validated at start."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from exchange.errors import ConfigError


class Settings(BaseSettings):
    """Every setting has a default that works on a fresh machine."""

    model_config = SettingsConfigDict(env_prefix="EXCHANGE_", extra="ignore")

    home: Path = Field(
        default_factory=Path.cwd,
        description="Folder holding schemas/, adapters/ and routes/.",
    )
    data_dir: Path | None = Field(
        default=None, description="Where the embedded backbone and store live (default HOME/var)."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL of the store (default sqlite in DATA_DIR).",
    )
    backbone: str = Field(
        default="embedded",
        description="'embedded' (SQLite log in DATA_DIR), 'embedded:///path/to/log.db', or "
        "'kafka://HOST:PORT[,HOST:PORT...]' (Apache Kafka brokers to bootstrap from).",
    )
    kafka_prefix: str = Field(
        default="exchange.",
        pattern=r"^[A-Za-z0-9._-]*$",
        description="Put before every topic and consumer-group name (inbound, deliver.<endpoint>, "
        "events, router, ...), so that several hubs can share one cluster.",
    )
    kafka_partitions: int = Field(
        default=6, gt=0, le=1000, description="Partitions of each topic the hub creates."
    )
    kafka_replication_factor: int = Field(
        default=1, gt=0, le=16, description="Copies of each partition (3 on a real cluster)."
    )
    kafka_min_insync_replicas: int | None = Field(
        default=None,
        gt=0,
        description="Copies that must have a record before it is acknowledged "
        "(default: 2 when replicated, else 1).",
    )
    kafka_max_record_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=64 * 1024,
        le=64 * 1024 * 1024,
        description="Largest payload carried inside a record; larger ones travel by "
        "reference (claim check in the store).",
    )
    kafka_publish_timeout_ms: int = Field(
        default=10_000,
        ge=1_000,
        description="How long the front door waits for Kafka's acknowledgement before a 503.",
    )
    kafka_session_timeout_ms: int = Field(
        default=10_000,
        ge=1_000,
        description="How long a silent worker keeps its partitions before they move.",
    )
    retention_ms: int = Field(
        default=7 * 24 * 3600 * 1000,
        ge=-1,
        description="Embedded backbone: a record every group has committed past is deleted "
        "once older than this; -1 keeps it.",
    )
    retention_bytes: int = Field(
        default=-1,
        ge=-1,
        description="Embedded backbone: the records of a topic every group has committed past "
        "are deleted, oldest first, while its values add up to more than this; -1: no limit.",
    )
    store_retention_ms: int = Field(
        default=90 * 24 * 3600 * 1000,
        ge=-1,
        description="Store: a delivered or rejected message is deleted with its trace and "
        "deliveries once its last change is older than this, and so are replayed dead letters "
        "and index failures; dead letters not replayed stay; -1 keeps everything.",
    )
    document_retention_ms: int = Field(
        default=7 * 24 * 3600 * 1000,
        ge=-1,
        description="Store: the documents of a message (the original and each destination's "
        "translated copy, shown in the console) are kept this long after they were captured; "
        "0 keeps none; -1 keeps them as long as the message.",
    )
    max_message_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    max_xml_depth: int = Field(default=64, gt=0, le=256)
    delivery_concurrency: int = Field(default=64, gt=0)
    watch: bool | None = Field(
        default=None,
        description="Reload schemas/, adapters/ and routes/ when their files change "
        "(default: on with serve --demo, else off; `exchange reload` works either way).",
    )
    adapter_time_limit_s: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="Seconds one adapter may take on one message unless its adapter.yaml "
        "says time_limit; past it the message is dead-lettered for that destination.",
    )
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Seconds a connection has to send a request's line and headers; "
        "later ones get 408 and are closed.",
    )
    body_timeout: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Seconds a request body may pause before the sender gets 408.",
    )
    body_min_rate: int = Field(
        default=4096,
        gt=0,
        description="Bytes per second a request body must average once BODY_TIMEOUT "
        "seconds have passed (a trickle gets 408 too).",
    )
    keepalive_timeout: int = Field(
        default=5,
        gt=0,
        le=3600,
        description="Seconds an idle kept-alive connection stays open.",
    )
    # 1000: twenty times the benchmark's 50 connections, and at most ~64 KiB of buffered
    # request each (about 64 MiB in all); the open-file limit is raised to fit at start.
    max_connections: int = Field(
        default=1000,
        gt=0,
        le=100_000,
        description="Open client connections at most; a request on one more gets 503.",
    )

    hub_name: str = Field(
        default="Exchange hub",
        min_length=1,
        max_length=80,
        description="The name the operator console shows in its header (tells hubs apart).",
    )
    console_session_s: int = Field(
        default=8 * 3600,
        ge=60,
        le=30 * 24 * 3600,
        description="Seconds a console session may stay idle before it must sign in again.",
    )

    metrics: bool = Field(
        default=True,
        description="Collect metrics and serve them at /metrics (false: collect nothing, 404).",
    )
    metrics_key: str | None = Field(
        default=None,
        min_length=16,
        description="If set, /metrics answers only 'Authorization: Bearer <this>'; else anyone "
        "who reaches the port may scrape it (as /healthz).",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="'text' (one readable line per entry) or 'json' (one JSON object per line).",
    )

    @field_validator("home")
    @classmethod
    def _home_exists(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(
                f"folder {value} does not exist; point EXCHANGE_HOME at the folder "
                "holding schemas/, adapters/ and routes/"
            )
        return value.resolve()

    @field_validator("backbone")
    @classmethod
    def _known_backbone(cls, value: str) -> str:
        if value.startswith("kafka://"):
            _bootstrap_servers(value)
            return value
        if value == "embedded" or value.startswith("embedded://"):
            return value
        # A plug-in backbone (entry point group exchange.backbones) is named by its scheme.
        from exchange.backbone import BACKBONE_KINDS

        scheme = value.partition("://")[0]
        if "://" in value and scheme in BACKBONE_KINDS:
            return value
        raise ValueError(
            f"unknown backbone {value!r}; use 'embedded', 'embedded:///path/log.db', "
            "'kafka://HOST:PORT[,HOST:PORT...]' or a plug-in's NAME://... "
            f"(installed kinds: {', '.join(BACKBONE_KINDS.kinds())})"
        )

    @model_validator(mode="after")
    def _replicas_fit(self) -> Settings:
        if self.kafka_min_insync_replicas is not None and (
            self.kafka_min_insync_replicas > self.kafka_replication_factor
        ):
            raise ValueError(
                f"kafka_min_insync_replicas={self.kafka_min_insync_replicas} is more than "
                f"kafka_replication_factor={self.kafka_replication_factor}: no record could "
                "ever be acknowledged; lower it or raise the replication factor"
            )
        return self

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir or self.home / "var"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.resolved_data_dir / 'store.db'}"

    @property
    def kafka_bootstrap(self) -> list[str]:
        """``HOST:PORT`` of each broker named by ``kafka://...`` (empty for other backbones)."""
        return _bootstrap_servers(self.backbone) if self.backbone.startswith("kafka://") else []

    @property
    def kafka_min_insync(self) -> int:
        if self.kafka_min_insync_replicas is not None:
            return self.kafka_min_insync_replicas
        return 2 if self.kafka_replication_factor > 1 else 1

    @property
    def backbone_path(self) -> Path:
        if self.backbone.startswith("embedded://"):
            return Path(self.backbone[len("embedded://") :])
        return self.resolved_data_dir / "backbone.db"


def _bootstrap_servers(spec: str) -> list[str]:
    servers = [part.strip() for part in spec[len("kafka://") :].split(",")]
    for server in servers:
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"{server!r} in {spec!r} is not HOST:PORT; write e.g. "
                "'kafka://10.0.0.5:9092,10.0.0.6:9092'"
            )
    return servers


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; a bad value raises ConfigError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            if error["loc"]:
                name = "EXCHANGE_" + "_".join(str(p) for p in error["loc"]).upper()
                lines.append(f"{name}: {error['msg']}")
            else:  # a rule about several settings names them in its message
                lines.append(str(error["msg"]))
        raise ConfigError("bad setting: " + "; ".join(lines)) from exc
