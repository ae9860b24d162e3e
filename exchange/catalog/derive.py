"""Deriving the catalogue from a rule set: pure functions, one cached answer per set.

Nothing here reads a file the rule set has not already read, except listing the files of
each version's folder (its XSDs and samples), and nothing compiles a schema: the catalogue
of a home with a hundred registered types costs their manifests, not their compiles.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from exchange.catalog.model import Catalogue, Publisher, Subscriber, TypeEntry, VersionEntry
from exchange.errors import ConfigError
from exchange.routing import Route
from exchange.ruleset import RuleSet
from exchange.schemas import MessageSchema

_lock = threading.Lock()
_cached: tuple[RuleSet, Catalogue] | None = None


def catalogue_of(rules: RuleSet) -> Catalogue:
    """The catalogue of ``rules``, derived once per rule set (a reload gives a new set)."""
    global _cached
    cached = _cached
    if cached is not None and cached[0] is rules:
        return cached[1]
    catalogue = derive(rules)
    with _lock:
        _cached = (rules, catalogue)
    return catalogue


def derive(rules: RuleSet) -> Catalogue:
    """Every message type of ``rules`` with its versions, publishers and subscribers."""
    by_name: dict[str, list[MessageSchema]] = {}
    for schema in rules.schemas:  # by name, oldest version first
        by_name.setdefault(schema.name, []).append(schema)
    entries = {name: _entry(rules, versions) for name, versions in by_name.items()}
    return Catalogue(version=getattr(rules, "version", None), entries=entries)


def _entry(rules: RuleSet, versions: list[MessageSchema]) -> TypeEntry:
    newest = versions[-1]
    manifest = newest.manifest
    names = frozenset(n for schema in versions for n in (schema.name, schema.qname))
    return TypeEntry(
        name=newest.name,
        owner=manifest.owner if manifest else None,
        titles=dict(manifest.titles) if manifest else _untitled(newest),
        descriptions=dict(manifest.descriptions) if manifest else {},
        versions=tuple(_version(schema) for schema in versions),
        publishers=tuple(publishers(rules, names)),
        subscribers=tuple(subscribers(rules, newest.name, names)),
    )


def _untitled(schema: MessageSchema) -> dict[str, str]:
    return {"en": schema.title} if schema.title else {}


def _version(schema: MessageSchema) -> VersionEntry:
    folder = schema.folder
    manifest = schema.manifest
    return VersionEntry(
        version=schema.version,
        qname=schema.qname,
        folder=folder,
        xsd=schema.xsd_path.relative_to(folder).as_posix(),
        xsd_files=_files(folder, folder.rglob("*.xsd"), skip=("samples",)),
        samples_valid=_files(folder, schema.samples("valid")),
        samples_invalid=_files(folder, schema.samples("invalid")),
        compatibility=manifest.compatibility if manifest else "BACKWARD",
    )


def _files(folder: Path, found: Iterable[Path], skip: tuple[str, ...] = ()) -> tuple[str, ...]:
    relative = (path.relative_to(folder) for path in found if path.is_file())
    return tuple(
        sorted(
            path.as_posix()
            for path in relative
            if not any(part.startswith(".") or part in skip for part in path.parts[:-1])
            and not path.name.startswith(".")
        )
    )


def publishers(rules: RuleSet, names: frozenset[str]) -> list[Publisher]:
    """Senders whose policy names one of the type's names, or ``*``."""
    found = []
    for code in sorted(rules.routing.senders):
        policy = rules.routing.senders[code]
        named = not names.isdisjoint(policy.may_send)
        if named or "*" in policy.may_send:
            found.append(Publisher(code=code, name=policy.name, any_type=not named))
    return found


def subscribers(rules: RuleSet, source: str, names: frozenset[str]) -> list[Subscriber]:
    """Each destination of each route matching the type, with the chain the router would use."""
    found = []
    for route in rules.routing.routes:
        if route.match.message_type is not None and route.match.message_type not in names:
            continue
        found.extend(_destinations(rules, source, route))
    return found


def _destinations(rules: RuleSet, source: str, route: Route) -> list[Subscriber]:
    result = []
    for destination in route.destinations:
        endpoint = rules.routing.endpoints.get(destination.endpoint)
        if endpoint is None:  # the table refuses this at load; kept total for hand-built sets
            continue
        adapters: tuple[str, ...] | None
        problem = None
        try:
            chain = rules.adapters.chain(source, endpoint.format, destination.adapters)
            adapters = tuple(adapter.spec.name for adapter in chain)
        except ConfigError as exc:
            adapters, problem = None, str(exc)
        result.append(
            Subscriber(
                route=route.name,
                endpoint=endpoint.name,
                title=endpoint.title,
                kind=endpoint.kind,
                format=endpoint.format,
                adapters=adapters,
                adapters_explicit=destination.adapters is not None,
                xpath=tuple(route.match.xpath),
                senders=None if route.match.senders is None else tuple(route.match.senders),
                problem=problem,
            )
        )
    return result
