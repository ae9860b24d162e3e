"""``lint``: everything wrong with a routes folder, including what only other registries know.

Loading checks a folder on its own.  The lint also asks, when given them, the
schema registry (do the message types exist?), the adapter registry (do the
named adapters exist?) and the chain resolver (can the message type be turned
into what each endpoint accepts?).  They come in as plain collections and a
callable so this module does not depend on those packages.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path

from exchange.routing.checks import check_table
from exchange.routing.loader import LoadedFiles, Located, load_files
from exchange.routing.model import Route, SoapEndpoint
from exchange.routing.problems import LintProblem, did_you_mean, sort_key
from exchange.schemas.manifest import is_version, version_key

ResolveChain = Callable[[str, str, Sequence[str] | None], object]
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def lint(
    routes_dir: Path,
    *,
    schema_names: Collection[str] | None = None,
    schema_versions: Mapping[str, Collection[str]] | None = None,
    adapter_names: Collection[str] | None = None,
    resolve_chain: ResolveChain | None = None,
    wsdl: bool = True,
    environ: Mapping[str, str] | None = None,
) -> list[LintProblem]:
    """Every problem in ``routes_dir``, errors and warnings, ordered by file and line.

    ``schema_names`` should hold every name a message type is known by (schema
    names and ``{namespace}local`` names), since routes may use either;
    ``schema_versions`` maps those names to their registered versions, so that a
    route's ``match.versions`` naming one that is not registered is reported.
    ``resolve_chain(source_type, target_type, adapters)`` should raise (a
    ConfigError) when no adapter chain connects the two types.  ``wsdl=False`` leaves
    the SOAP endpoints' WSDLs unread (a URL WSDL is fetched otherwise); ``environ``
    replaces ``os.environ`` for the ``${VAR}`` checks.
    """
    loaded = load_files(routes_dir)
    problems = [*loaded.problems, *check_table(loaded)]
    if not loaded.routes and routes_dir.is_dir():
        problems.append(
            LintProblem(
                routes_dir,
                None,
                "no routes defined — add a routes: section to a YAML file in this folder",
                "warning",
            )
        )
    if schema_names is not None:
        problems.extend(_unknown_types(loaded, schema_names))
    if schema_versions is not None:
        problems.extend(_unknown_versions(loaded, schema_versions))
    if adapter_names is not None:
        problems.extend(_unknown_adapters(loaded, adapter_names))
    if resolve_chain is not None:
        problems.extend(_chains(loaded, resolve_chain, schema_names, adapter_names))
    problems.extend(_soap_credentials(loaded, os.environ if environ is None else environ))
    if wsdl:
        problems.extend(_soap_operations(loaded))
    return sorted(problems, key=sort_key)


def _soap_credentials(loaded: LoadedFiles, environ: Mapping[str, str]) -> Iterator[LintProblem]:
    for located in loaded.endpoints.values():
        endpoint = located.item
        if not isinstance(endpoint, SoapEndpoint):
            continue
        for field in ("username", "password"):
            for variable in _VARIABLE.findall(getattr(endpoint, field) or ""):
                if variable not in environ:
                    yield LintProblem(
                        located.file,
                        located.line(field),
                        f"endpoint '{endpoint.name}': {field} uses ${{{variable}}}, which is "
                        "not set in this environment — set it before the hub sends",
                        "warning",
                    )


def _soap_operations(loaded: LoadedFiles) -> Iterator[LintProblem]:
    """Each SOAP endpoint's WSDL loads and has what the endpoint names."""
    # Imported here: the egress package builds on the routing models, not the other way.
    from exchange.egress.wsdl import WsdlCache, WsdlRefused, WsdlUnreachable

    wsdls = WsdlCache()
    for located in loaded.endpoints.values():
        endpoint = located.item
        if not isinstance(endpoint, SoapEndpoint):
            continue
        try:
            wsdls.operation(endpoint)
        except WsdlUnreachable as exc:
            yield LintProblem(
                located.file,
                located.line("wsdl"),
                f"endpoint '{endpoint.name}': could not check the WSDL: {exc}",
                "warning",
            )
        except WsdlRefused as exc:
            line = located.line(exc.field)
            yield LintProblem(located.file, line, f"endpoint '{endpoint.name}': {exc}")


def _unknown_types(loaded: LoadedFiles, schema_names: Collection[str]) -> Iterator[LintProblem]:
    def problem(file: Path, line: int, what: str, name: str) -> LintProblem:
        return LintProblem(
            file,
            line,
            f"{what}: message type '{name}' has no schema{did_you_mean(name, schema_names)} — "
            "fix the name or add the schema",
        )

    for route in loaded.routes.values():
        message_type = route.item.match.message_type
        if message_type is not None and message_type not in schema_names:
            line = route.line("match", "message_type")
            yield problem(route.file, line, f"route '{route.item.name}'", message_type)
    for endpoint in loaded.endpoints.values():
        if endpoint.item.format not in schema_names:
            line = endpoint.line("format")
            yield problem(
                endpoint.file, line, f"endpoint '{endpoint.item.name}'", endpoint.item.format
            )
    for sender in loaded.senders.values():
        for index, name in enumerate(sender.item.may_send):
            if name != "*" and name not in schema_names:
                line = sender.line("may_send", index)
                yield problem(sender.file, line, f"sender '{sender.item.code}'", name)


def _unknown_versions(
    loaded: LoadedFiles, schema_versions: Mapping[str, Collection[str]]
) -> Iterator[LintProblem]:
    """A route's ``match.versions`` entry its message type has no schema for ("1" is "1.0")."""
    for route in loaded.routes.values():
        match = route.item.match
        registered = schema_versions.get(match.message_type or "")
        if not match.versions or registered is None:
            continue  # an unknown type is reported once, by _unknown_types
        keys = {_version_key(v) for v in registered}
        for index, version in enumerate(match.versions):
            if _version_key(version) not in keys:
                yield LintProblem(
                    route.file,
                    route.line("match", "versions", index),
                    f"route '{route.item.name}': {match.message_type} has no version "
                    f"'{version}' (registered: {', '.join(sorted(registered))}) — register it "
                    "or fix the version",
                )


def _version_key(version: str) -> tuple[int, ...]:
    return version_key(version) if is_version(version) else ()


def _unknown_adapters(loaded: LoadedFiles, adapter_names: Collection[str]) -> Iterator[LintProblem]:
    for route in loaded.routes.values():
        for d_index, destination in enumerate(route.item.destinations):
            for a_index, name in enumerate(destination.adapters or ()):
                if name not in adapter_names:
                    yield LintProblem(
                        route.file,
                        route.line("destinations", d_index, "adapters", a_index),
                        f"route '{route.item.name}': adapter '{name}' is not registered"
                        f"{did_you_mean(name, adapter_names)} — fix the name or install it",
                    )


def _chains(
    loaded: LoadedFiles,
    resolve_chain: ResolveChain,
    schema_names: Collection[str] | None,
    adapter_names: Collection[str] | None,
) -> Iterator[LintProblem]:
    """Ask the resolver about each destination whose types and adapters are known.

    Destinations already reported (unknown endpoint, type or adapter) are left
    out so that one mistake gives one problem.
    """
    for route in loaded.routes.values():
        source = route.item.match.message_type
        if source is None or (schema_names is not None and source not in schema_names):
            continue
        for index, destination in enumerate(route.item.destinations):
            endpoint = loaded.endpoints.get(destination.endpoint)
            if endpoint is None or _already_reported(
                endpoint.item.format, destination.adapters, schema_names, adapter_names
            ):
                continue
            adapters = destination.adapters
            try:
                resolve_chain(source, endpoint.item.format, adapters)
            except Exception as exc:  # the lint reports whatever the resolver objects to
                yield _chain_problem(route, index, endpoint.item.format, exc)


def _already_reported(
    target: str,
    adapters: Sequence[str] | None,
    schema_names: Collection[str] | None,
    adapter_names: Collection[str] | None,
) -> bool:
    if schema_names is not None and target not in schema_names:
        return True
    return adapter_names is not None and any(a not in adapter_names for a in adapters or ())


def _chain_problem(route: Located[Route], index: int, target: str, exc: Exception) -> LintProblem:
    detail = str(exc) or type(exc).__name__
    destination = route.item.destinations[index]
    return LintProblem(
        route.file,
        route.line("destinations", index),
        f"route '{route.item.name}': no adapter chain from '{route.item.match.message_type}' "
        f"to endpoint '{destination.endpoint}' ({target}): {detail}",
    )
