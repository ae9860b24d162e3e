"""A department's subscription request: its shape, and whether the rule set can serve it.

Checked when it is made (so a department hears at once that its XPath does not compile) and
again on approval, against the rule set running then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from exchange.catalog.derive import catalogue_of
from exchange.catalog.model import UnknownCatalogueType
from exchange.errors import ConfigError
from exchange.routing.predicates import PredicateError, compile_predicate
from exchange.ruleset import RuleSet


class NewEndpoint(BaseModel):
    """A REST endpoint the approval creates for the subscriber."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["rest"] = "rest"
    url: str
    method: Literal["POST", "PUT"] = "POST"
    timeout: float = Field(default=10.0, gt=0, le=300)
    headers: dict[str, str] = Field(default_factory=dict)


class SubscriptionRequest(BaseModel):
    """``POST /v1/subscriptions``: what a department asks to receive, and where."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    message_type: str = Field(min_length=1)
    format: str | None = Field(default=None, description="Type to receive; default the same.")
    xpath: list[str] = Field(default_factory=list, description="All must hold for a message.")
    namespaces: dict[str, str] = Field(default_factory=dict)
    endpoint: str | NewEndpoint


@dataclass(frozen=True)
class Resolved:
    """A request checked against a rule set: the names the routes file will use."""

    message_type: str  # the type's registered name
    format: str
    endpoint: str | None  # an existing endpoint, or None for the request's new one
    adapters: tuple[str, ...]


class RequestRefused(Exception):
    """The request cannot be served; ``problems`` says why, one sentence each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def check_request(request: SubscriptionRequest, rules: RuleSet) -> Resolved:
    """What the request resolves to under ``rules``; RequestRefused listing every problem."""
    problems: list[str] = []
    try:
        message_type = catalogue_of(rules).get(request.message_type).name
    except UnknownCatalogueType as exc:
        problems.append(str(exc))
        message_type = None
    endpoint_name: str | None = None
    wanted = request.format
    if isinstance(request.endpoint, str):
        endpoint = rules.routing.endpoints.get(request.endpoint)
        if endpoint is None:
            known = ", ".join(sorted(rules.routing.endpoints)) or "none"
            problems.append(
                f"endpoint {request.endpoint!r} does not exist (known: {known}); name one of "
                "them or give {kind: rest, url: ...} for a new one"
            )
        else:
            endpoint_name = endpoint.name
            if wanted is not None and wanted != endpoint.format:
                problems.append(
                    f"endpoint {endpoint.name!r} receives {endpoint.format}, not {wanted}; "
                    "leave format out or give a new endpoint"
                )
            wanted = endpoint.format
    else:
        problems.extend(_url_problems(request.endpoint.url))
    target = wanted or message_type
    if target is not None and target not in rules.schemas:
        problems.append(
            f"format {target!r} is not a registered message type; use one of the catalogue's"
        )
        target = None
    adapters: tuple[str, ...] = ()
    if message_type is not None and target is not None:
        try:
            chain = rules.adapters.chain(message_type, target)
            adapters = tuple(a.spec.name for a in chain)
        except ConfigError as exc:
            problems.append(str(exc))
    for expression in request.xpath:
        try:
            compile_predicate(expression, request.namespaces)
        except PredicateError as exc:
            problems.append(str(exc))
    if problems:
        raise RequestRefused(problems)
    assert message_type is not None and target is not None
    return Resolved(message_type, target, endpoint_name, adapters)


def _url_problems(url: str) -> list[str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return [f"endpoint url {url!r} must be an http:// or https:// URL with a host"]
    return []
