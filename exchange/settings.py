"""Typed settings from ``EXCHANGE_*`` environment variables, validated at start."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, field_validator
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
        description="'embedded' (SQLite log in DATA_DIR) or 'embedded:///path/to/log.db'.",
    )
    max_message_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    max_xml_depth: int = Field(default=64, gt=0, le=256)
    delivery_concurrency: int = Field(default=64, gt=0)

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
        if value != "embedded" and not value.startswith("embedded://"):
            raise ValueError(
                f"unknown backbone {value!r}; use 'embedded' or 'embedded:///path/log.db'"
            )
        return value

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir or self.home / "var"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.resolved_data_dir / 'store.db'}"

    @property
    def backbone_path(self) -> Path:
        if self.backbone.startswith("embedded://"):
            return Path(self.backbone[len("embedded://") :])
        return self.resolved_data_dir / "backbone.db"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; a bad value raises ConfigError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "EXCHANGE_" + "_".join(str(p) for p in error["loc"]).upper()
            lines.append(f"{name}: {error['msg']}")
        raise ConfigError("bad setting: " + "; ".join(lines)) from exc
