"""Endpoints, routes and sender permissions: the routing table's vocabulary.

Files in ``routes/`` (YAML) are the reviewed source of truth; these models are
what they parse into.  Every YAML file may hold any of three sections:
``endpoints:``, ``routes:`` and ``senders:``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:  # re-exported lazily, see __getattr__ at the end
    from exchange.egress.rest_endpoint import RestEndpoint as RestEndpoint
    from exchange.egress.soap_endpoint import SoapEndpoint as SoapEndpoint


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Kafka's default retention: a delivery kept waiting longer could lose its uncommitted
# record under it, so no endpoint may ask to keep trying for longer.
MAX_AGE_LIMIT = 7 * 86400.0


class RetryPolicy(_Strict):
    """Bounded retries with exponential backoff and jitter (the engine owns the loop).

    Two bounds, whichever comes first: ``attempts`` tries in all, and ``max_age`` seconds
    from when the delivery reached the delivery stage; past ``max_age`` a delivery is not
    tried again, nor kept waiting for an open circuit breaker, but dead-lettered.
    """

    attempts: int = Field(default=5, ge=1, le=100, description="Tries in all, the first included.")
    initial_backoff: float = Field(default=0.5, gt=0, description="Seconds before the 2nd try.")
    multiplier: float = Field(default=2.0, ge=1.0)
    max_backoff: float = Field(default=30.0, gt=0)
    jitter: float = Field(default=0.2, ge=0, le=1, description="± fraction of each wait.")
    max_age: float = Field(
        default=86400.0,
        gt=0,
        le=MAX_AGE_LIMIT,
        description="Seconds a delivery is kept trying (and waiting) after it reached delivery.",
    )


class BreakerPolicy(_Strict):
    """When the endpoint's circuit breaker opens, and how long it stays open.

    ``failures`` retriable failures in a row open it; while open, deliveries wait without
    spending attempts, and after each ``cooldown`` one of them is let through as the trial
    that closes it again (or keeps it open for another cool-down).
    """

    failures: int = Field(
        default=5, ge=1, le=1000, description="Retriable failures in a row that open it."
    )
    cooldown: float = Field(
        default=30.0, gt=0, le=3600, description="Seconds open before one trial delivery."
    )


class Endpoint(_Strict):
    """A receiver's address and how to talk to it: what every kind of endpoint declares.

    Each kind's own fields are declared by the egress that serves it (its
    ``endpoint_model``): ``RestEndpoint`` (``kind: rest``, the default, in
    ``exchange.egress.rest_endpoint``), ``SoapEndpoint`` (``kind: soap``) and any plug-in
    kind's model.  ``Endpoint(...)`` and ``Endpoint.model_validate(...)`` build the one
    their ``kind`` names, so code and files written before SOAP existed keep working
    unchanged; ``isinstance(endpoint, Endpoint)`` holds for every kind.
    """

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    kind: str
    format: str = Field(description="Message type (schema name) the receiver accepts.")
    timeout: float = Field(default=10.0, gt=0, le=300)
    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerPolicy = BreakerPolicy()
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Extra HTTP headers, e.g. auth; ${VAR} is replaced from the environment.",
    )
    title: str | None = None

    def __new__(cls, *args: Any, **data: Any) -> Any:
        # Endpoint(**fields) builds the endpoint of its kind.  Without fields (copies,
        # model_construct, unpickling) the class asked for is the class built.
        if cls is Endpoint and data:
            cls = endpoint_class(data.get("kind", "rest"))
        return super().__new__(cls)

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Self:
        if cls is Endpoint and isinstance(obj, Mapping):
            concrete: type[Endpoint] = endpoint_class(obj.get("kind", "rest"))
            return concrete.model_validate(obj, **options)  # type: ignore[return-value]
        return super().model_validate(obj, **options)


def endpoint_class(kind: object) -> type[Endpoint]:
    """The endpoint model of ``kind``: the ``endpoint_model`` of the egress serving it.

    Built-in kinds and plug-ins (entry point group ``exchange.egress``) alike;
    ValueError naming the known kinds (and the closest one) otherwise.
    """
    from exchange.egress.kinds import endpoint_model  # the egress owns its model

    return endpoint_model(kind)


def __getattr__(name: str) -> Any:
    # RestEndpoint and SoapEndpoint moved beside their egress; importing them from here
    # keeps working. Resolved on first access because those modules import this one.
    if name == "RestEndpoint":
        from exchange.egress.rest_endpoint import RestEndpoint

        return RestEndpoint
    if name == "SoapEndpoint":
        from exchange.egress.soap_endpoint import SoapEndpoint

        return SoapEndpoint
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    versions: list[str] | None = Field(
        default=None,
        min_length=1,
        description='Schema versions the route takes (e.g. ["1.0"]); every version if absent.',
    )

    @model_validator(mode="after")
    def _dotted_versions(self) -> Match:
        bad = [v for v in self.versions or () if not _DOTTED.match(v)]
        if bad:
            raise ValueError(f'versions: {bad[0]!r} is not a dotted version such as "1.0"')
        return self


_DOTTED = re.compile(r"^\d+(\.\d+)*$")


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
