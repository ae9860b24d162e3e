"""The routing table: which endpoints a message goes to, and who may send what.

Content-based routing runs once per message, so the table does the work up
front: XPath predicates are compiled at load, routes are indexed by message
type, and the candidate routes for a (sender, message type) pair are worked
out on first use and cached.  When none of the candidates has a predicate the
whole answer is cached too.  The lists are short (one entry per route), so a
call costs a dictionary lookup plus the predicates that really have to run.

Several versions of a message type live side by side: a route whose ``match`` names
``versions`` takes only those (so v1 senders can keep reaching an old receiver while v2
goes elsewhere); a route without it takes every version.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from lxml import etree

from exchange.errors import ConfigError
from exchange.routing.checks import check_table
from exchange.routing.loader import load_files
from exchange.routing.model import Endpoint, Route, SenderPolicy
from exchange.routing.predicates import PredicateError, compile_predicate, is_true
from exchange.routing.problems import LintProblem, display_path, sort_key
from exchange.schemas.manifest import version_key

log = logging.getLogger(__name__)

# Plans are cached per (sender, type names); senders and types are bounded in
# practice, the limit only guards against a flood of made-up names.
_MAX_PLANS = 4096


@dataclass(frozen=True, slots=True)
class RoutedDestination:
    """One delivery the router must make: to ``endpoint``, through ``adapters``.

    ``adapters`` None means "resolve the chain from the message type to the
    endpoint's format"; ``route`` names the route that chose the endpoint.
    """

    route: str
    endpoint: Endpoint
    adapters: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class _CompiledRoute:
    name: str
    senders: frozenset[str] | None
    predicates: tuple[tuple[str, etree.XPath], ...]
    destinations: tuple[RoutedDestination, ...]
    #: version keys the route takes ("1" and "1.0" are one), None for every version
    versions: frozenset[tuple[int, ...]] | None = None

    def takes_version(self, version: str | None) -> bool:
        return self.versions is None or version is None or _key(version) in self.versions

    def predicates_hold(self, document: etree._ElementTree) -> bool:
        for expression, predicate in self.predicates:
            try:
                if not is_true(predicate(document)):
                    return False
            except Exception as exc:  # a data-dependent failure must not stop the router
                log.warning(
                    "route %s: XPath %r failed on a message, treated as no match: %s",
                    self.name,
                    expression,
                    exc,
                )
                return False
        return True


@dataclass(frozen=True, slots=True)
class _Plan:
    """The routes a (sender, type) pair can reach; ``fixed`` is the answer when no
    candidate has a predicate."""

    routes: tuple[_CompiledRoute, ...]
    fixed: tuple[RoutedDestination, ...] | None


class RoutingTable:
    """Endpoints, routes and sender policies, ready for matching.

    Build one with :meth:`load` from a routes folder, or directly from models
    (tests, the API).  Instances are immutable; reloading builds a new table.
    """

    def __init__(
        self,
        *,
        endpoints: Mapping[str, Endpoint] | None = None,
        routes: Sequence[Route] = (),
        senders: Mapping[str, SenderPolicy] | None = None,
    ) -> None:
        self._endpoints: Mapping[str, Endpoint] = MappingProxyType(dict(endpoints or {}))
        self._routes: tuple[Route, ...] = tuple(routes)
        self._senders: Mapping[str, SenderPolicy] = MappingProxyType(dict(senders or {}))
        self._compiled = tuple(self._compile(route) for route in self._routes)
        self._by_type: dict[str, list[int]] = {}
        self._any_type: list[int] = []
        for index, route in enumerate(self._routes):
            message_type = route.match.message_type
            if message_type is None:
                self._any_type.append(index)
            else:
                self._by_type.setdefault(message_type, []).append(index)
        self._may_send: dict[str, frozenset[str] | None] = {
            code: None if "*" in policy.may_send else frozenset(policy.may_send)
            for code, policy in self._senders.items()
        }
        self._plans: dict[tuple[str, frozenset[str], str | None], _Plan] = {}

    @classmethod
    def load(cls, routes_dir: Path) -> RoutingTable:
        """Read ``routes_dir``; raise ConfigError listing every error (file:line: message).

        Warnings (see :class:`LintProblem`) are logged and do not stop the load.
        """
        loaded = load_files(routes_dir)
        problems = sorted([*loaded.problems, *check_table(loaded)], key=sort_key)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise ConfigError(format_problems(routes_dir, errors))
        for warning in problems:
            log.warning("%s", warning)
        return cls(
            endpoints={name: item.item for name, item in loaded.endpoints.items()},
            routes=[item.item for item in loaded.routes.values()],
            senders={code: item.item for code, item in loaded.senders.items()},
        )

    @property
    def endpoints(self) -> Mapping[str, Endpoint]:
        return self._endpoints

    @property
    def routes(self) -> Sequence[Route]:
        return self._routes

    @property
    def senders(self) -> Mapping[str, SenderPolicy]:
        return self._senders

    def destinations_for(
        self,
        *,
        sender: str,
        type_names: frozenset[str],
        document: etree._ElementTree,
        version: str | None = None,
    ) -> list[RoutedDestination]:
        """Where a message goes, in file order, each endpoint once (first route wins).

        ``type_names`` holds every name the message type is known by (schema
        name and ``{namespace}local``); ``version`` is the schema version the
        message was validated against (None: routes are not told apart by
        version).  An empty list means no route matched.
        """
        key = (sender, type_names, version)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(sender, type_names, version)
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
            self._plans[key] = plan
        if plan.fixed is not None:
            return list(plan.fixed)
        result: list[RoutedDestination] = []
        seen: set[str] = set()
        for route in plan.routes:
            if route.predicates and not route.predicates_hold(document):
                continue
            for destination in route.destinations:
                name = destination.endpoint.name
                if name not in seen:
                    seen.add(name)
                    result.append(destination)
        return result

    def may_send(self, sender: str, type_names: frozenset[str]) -> bool:
        """Whether ``sender``'s policy allows this message type; unknown senders may not send."""
        if sender not in self._may_send:
            return False
        allowed = self._may_send[sender]
        return allowed is None or not allowed.isdisjoint(type_names)

    def _plan(self, sender: str, type_names: frozenset[str], version: str | None) -> _Plan:
        indices = set(self._any_type)
        for name in type_names:
            indices.update(self._by_type.get(name, ()))
        routes = tuple(
            route
            for route in (self._compiled[i] for i in sorted(indices))
            if (route.senders is None or sender in route.senders) and route.takes_version(version)
        )
        if any(route.predicates for route in routes):
            return _Plan(routes, None)
        fixed: list[RoutedDestination] = []
        seen: set[str] = set()
        for route in routes:
            for destination in route.destinations:
                if destination.endpoint.name not in seen:
                    seen.add(destination.endpoint.name)
                    fixed.append(destination)
        return _Plan(routes, tuple(fixed))

    def _compile(self, route: Route) -> _CompiledRoute:
        try:
            predicates = tuple(
                (expression, compile_predicate(expression, route.namespaces))
                for expression in route.match.xpath
            )
        except PredicateError as exc:
            raise ConfigError(f"route '{route.name}': {exc}") from exc
        destinations: list[RoutedDestination] = []
        for destination in route.destinations:
            endpoint = self._endpoints.get(destination.endpoint)
            if endpoint is None:
                raise ConfigError(
                    f"route '{route.name}': endpoint '{destination.endpoint}' is not defined "
                    "— define it or fix the name"
                )
            adapters = None if destination.adapters is None else tuple(destination.adapters)
            destinations.append(RoutedDestination(route.name, endpoint, adapters))
        senders = None if route.match.senders is None else frozenset(route.match.senders)
        versions = route.match.versions
        return _CompiledRoute(
            route.name,
            senders,
            predicates,
            tuple(destinations),
            None if versions is None else frozenset(_key(v) for v in versions),
        )


def _key(version: str) -> tuple[int, ...]:
    # A version the model let through is dotted numbers; anything else matches nothing.
    try:
        return version_key(version)
    except ValueError:
        return ()


def format_problems(routes_dir: Path, problems: Sequence[LintProblem]) -> str:
    """The ConfigError text: a one-line summary, then one line per problem."""
    count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
    lines = [f"the routing table in {display_path(routes_dir)} has {count}; fix and reload:"]
    lines.extend(f"  {problem}" for problem in problems)
    return "\n".join(lines)
