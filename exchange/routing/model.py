"""Endpoints, routes and sender permissions: the routing table's vocabulary.

Files in ``routes/`` (YAML) are the reviewed source of truth; these models are
what they parse into.  Every YAML file may hold any of three sections:
``endpoints:``, ``routes:`` and ``senders:``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetryPolicy(_Strict):
    """Bounded retries with exponential backoff and jitter (the engine owns the loop)."""

    attempts: int = Field(default=5, ge=1, le=100, description="Tries in all, the first included.")
    initial_backoff: float = Field(default=0.5, gt=0, description="Seconds before the 2nd try.")
    multiplier: float = Field(default=2.0, ge=1.0)
    max_backoff: float = Field(default=30.0, gt=0)
    jitter: float = Field(default=0.2, ge=0, le=1, description="± fraction of each wait.")


class Endpoint(_Strict):
    """A receiver's address and how to talk to it."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    kind: Literal["rest"] = "rest"
    url: str = Field(pattern=r"^https?://")
    method: Literal["POST", "PUT"] = "POST"
    format: str = Field(description="Message type (schema name) the receiver accepts.")
    timeout: float = Field(default=10.0, gt=0, le=300)
    retry: RetryPolicy = RetryPolicy()
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Extra headers, e.g. auth; ${VAR} is replaced from the environment.",
    )
    title: str | None = None


class Destination(_Strict):
    endpoint: str
    adapters: list[str] | None = Field(
        default=None,
        description="Adapter chain by name; omitted = resolved from the message type "
        "to the endpoint's format.",
    )


class Match(_Strict):
    message_type: str | None = Field(default=None, description="Schema name or {ns}local.")
    senders: list[str] | None = None
    xpath: list[str] = Field(default_factory=list, description="All must be true.")


class Route(_Strict):
    name: str
    description: str | None = None
    match: Match = Match()
    namespaces: dict[str, str] = Field(default_factory=dict)
    destinations: list[Destination] = Field(min_length=1)


class SenderPolicy(_Strict):
    """Which message types a sender (agency/system code) may submit."""

    code: str
    name: str | None = None
    may_send: list[str] = Field(min_length=1, description="Schema names, or '*' for any.")

    @model_validator(mode="after")
    def _no_empty_names(self) -> SenderPolicy:
        if any(not name.strip() for name in self.may_send):
            raise ValueError("may_send holds an empty name")
        return self
