"""Endpoints, routes and sender permissions: the routing table's vocabulary.

Files in ``routes/`` (YAML) are the reviewed source of truth; these models are
what they parse into.  Every YAML file may hold any of three sections:
``endpoints:``, ``routes:`` and ``senders:``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, model_validator


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

    The concrete endpoints are ``RestEndpoint`` (``kind: rest``, the default) and
    ``SoapEndpoint`` (``kind: soap``).  ``Endpoint(...)`` and ``Endpoint.model_validate(...)``
    build the one their ``kind`` names, so code and files written before SOAP existed keep
    working unchanged; ``isinstance(endpoint, Endpoint)`` holds for every kind.
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


class RestEndpoint(Endpoint):
    """``kind: rest``: the document is POSTed (or PUT) as the body of an HTTP request."""

    kind: Literal["rest"] = "rest"
    url: str = Field(pattern=r"^https?://")
    method: Literal["POST", "PUT"] = "POST"


class SoapEndpoint(Endpoint):
    """``kind: soap``: the document is the body element of a WSDL operation's request.

    ``wsdl`` is a path relative to the routes folder (where the endpoint file is) or an
    http(s) URL.  By default the document is the operation's body element itself
    (document/literal); ``part`` names the child of a wrapper element (wrapped
    document/literal, rpc/literal) that the document goes into instead.  ``username`` and
    ``password`` add a WS-Security UsernameToken; ``${VAR}`` in them, as in ``headers``,
    is read from the environment when the hub sends.
    """

    kind: Literal["soap"]
    wsdl: str = Field(min_length=1, description="routes/-relative path or http(s) URL.")
    service: str = Field(min_length=1)
    port: str = Field(min_length=1)
    operation: str = Field(min_length=1)
    address: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="URL to post to; default: the port's soap:address in the WSDL.",
    )
    part: str | None = Field(
        default=None, description="Child of the body's wrapper element the document goes in."
    )
    username: str | None = None
    password: str | None = None

    # Where relative WSDL paths start and what a local WSDL may read: the routes folder
    # the endpoint was loaded from (the loader passes it as validation context).
    _routes_dir: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _locate_wsdl(self, info: ValidationInfo) -> SoapEndpoint:
        if (self.username is None) != (self.password is None):
            raise ValueError(
                "username and password go together (a WS-Security UsernameToken); "
                "give both or neither"
            )
        context = info.context if isinstance(info.context, Mapping) else {}
        routes_dir = context.get("routes_dir")
        if self.wsdl_is_url:
            return self
        if "://" in self.wsdl:
            raise ValueError(
                f"wsdl {self.wsdl!r}: give an http(s) URL or a file path relative to the "
                "routes folder (e.g. wsdl/tax-bureau.wsdl)"
            )
        if routes_dir is not None:
            base = Path(routes_dir).resolve()
            location = (base / self.wsdl).resolve()
            if not location.is_relative_to(base):
                raise ValueError(
                    f"wsdl {self.wsdl!r} lies outside the routes folder {base}; "
                    "copy the WSDL (and what it imports) into routes/, e.g. routes/wsdl/"
                )
            self._routes_dir = base
        return self

    @property
    def wsdl_is_url(self) -> bool:
        return self.wsdl.startswith(("http://", "https://"))

    @property
    def wsdl_location(self) -> str:
        """The WSDL's URL, or the absolute path of the local file."""
        if self.wsdl_is_url:
            return self.wsdl
        base = self._routes_dir if self._routes_dir is not None else Path.cwd()
        return str((base / self.wsdl).resolve())

    @property
    def wsdl_root(self) -> str:
        """What the WSDL and everything it imports must come from: the routes folder for a
        local WSDL (its own folder when built outside a routes folder), the WSDL's scheme,
        host and port for a URL."""
        if self.wsdl_is_url:
            parts = urlsplit(self.wsdl)
            return f"{parts.scheme}://{parts.netloc}"
        if self._routes_dir is not None:
            return str(self._routes_dir)
        return str(Path(self.wsdl_location).parent)


ENDPOINT_KINDS: Mapping[str, type[Endpoint]] = {"rest": RestEndpoint, "soap": SoapEndpoint}


def endpoint_class(kind: object) -> type[Endpoint]:
    """The endpoint model of ``kind``; ValueError naming the known kinds otherwise."""
    found = ENDPOINT_KINDS.get(kind) if isinstance(kind, str) else None
    if found is None:
        close = difflib.get_close_matches(str(kind), list(ENDPOINT_KINDS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"kind {kind!r} is not an endpoint kind{hint}; use one of: " + ", ".join(ENDPOINT_KINDS)
        )
    return found


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
