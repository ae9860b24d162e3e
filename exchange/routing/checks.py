"""Checks that need the whole table: references between items, XPath, environment.

Each item has already passed its pydantic model; what is left is what one item
cannot know alone (does the endpoint a route names exist?) and what only shows
when the expression is compiled or the environment is consulted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping

from exchange.routing.loader import LoadedFiles, Located
from exchange.routing.model import Endpoint, Route
from exchange.routing.predicates import PredicateError, compile_predicate
from exchange.routing.problems import LintProblem, did_you_mean

# ${VAR} in header values; the egress substitutes them when it sends.
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def check_table(loaded: LoadedFiles, environ: Mapping[str, str] | None = None) -> list[LintProblem]:
    """Every cross-item problem of ``loaded``; errors and warnings both."""
    env = os.environ if environ is None else environ
    problems: list[LintProblem] = []
    for route in loaded.routes.values():
        problems.extend(_destinations(route, loaded.endpoints))
        problems.extend(_predicates(route))
        problems.extend(_match_senders(route, loaded))
    for endpoint in loaded.endpoints.values():
        problems.extend(_header_variables(endpoint, env))
    return problems


def _destinations(
    located: Located[Route], endpoints: Mapping[str, Located[Endpoint]]
) -> Iterator[LintProblem]:
    route = located.item
    seen: dict[str, int] = {}
    for index, destination in enumerate(route.destinations):
        name = destination.endpoint
        line = located.line("destinations", index, "endpoint")
        if name not in endpoints:
            yield LintProblem(
                located.file,
                line,
                f"route '{route.name}': endpoint '{name}' is not defined"
                f"{did_you_mean(name, endpoints)} — fix the name or define it under endpoints:",
            )
        if name in seen:
            yield LintProblem(
                located.file,
                line,
                f"route '{route.name}': endpoint '{name}' is listed twice (first on line "
                f"{seen[name]}) — keep one destination per endpoint",
            )
        else:
            seen[name] = line


def _predicates(located: Located[Route]) -> Iterator[LintProblem]:
    route = located.item
    for index, expression in enumerate(route.match.xpath):
        try:
            compile_predicate(expression, route.namespaces)
        except PredicateError as exc:
            yield LintProblem(
                located.file,
                located.line("match", "xpath", index),
                f"route '{route.name}': {exc}",
            )


def _match_senders(located: Located[Route], loaded: LoadedFiles) -> Iterator[LintProblem]:
    route = located.item
    codes = route.match.senders
    if codes is None:
        return
    if not codes:
        yield LintProblem(
            located.file,
            located.line("match", "senders"),
            f"route '{route.name}': match.senders is empty, so the route never matches — "
            "list sender codes or remove the key to match any sender",
            "warning",
        )
    for index, code in enumerate(codes):
        if code not in loaded.senders:
            yield LintProblem(
                located.file,
                located.line("match", "senders", index),
                f"route '{route.name}': sender '{code}' is not listed under senders:"
                f"{did_you_mean(code, loaded.senders)} — add a sender policy for it "
                "or fix the code",
                "warning",
            )


def _header_variables(
    located: Located[Endpoint], environ: Mapping[str, str]
) -> Iterator[LintProblem]:
    endpoint = located.item
    for header, value in endpoint.headers.items():
        for variable in _VARIABLE.findall(value):
            if variable not in environ:
                yield LintProblem(
                    located.file,
                    located.line("headers", header),
                    f"endpoint '{endpoint.name}': header {header} uses ${{{variable}}}, which "
                    "is not set in this environment — set it before the hub sends",
                    "warning",
                )
