"""Routing: endpoints, routes and sender policies read from ``routes/*.yaml``.

``RoutingTable.load(folder)`` gives a table ready for matching (or a
ConfigError listing every problem as file:line: message); ``lint(folder, ...)``
reports the same problems plus those that need the schema and adapter
registries.
"""

from exchange.routing.lint import lint
from exchange.routing.model import (
    Destination,
    Endpoint,
    Match,
    RetryPolicy,
    Route,
    SenderPolicy,
)
from exchange.routing.problems import LintProblem
from exchange.routing.table import RoutedDestination, RoutingTable

__all__ = [
    "Destination",
    "Endpoint",
    "LintProblem",
    "Match",
    "RetryPolicy",
    "Route",
    "RoutedDestination",
    "RoutingTable",
    "SenderPolicy",
    "lint",
]
