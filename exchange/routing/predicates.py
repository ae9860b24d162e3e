"""XPath predicates of a route: compiled and checked once, evaluated per message.

libxml2 compiles some broken expressions without complaint ("string(" is
accepted) and only reports an undeclared prefix, an unknown function or a type
error when the expression runs.  So a predicate is also run once against a
tiny probe document at load time: those mistakes then surface in the lint
instead of in the router's log.  What is left for run time is what depends on
the data (e.g. a regular expression taken from the message).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from lxml import etree

# Prefixes the XPath context knows without a declaration.
_BUILTIN_PREFIXES = frozenset({"xml"})
_STRING_LITERAL = re.compile(r"\"[^\"]*\"|'[^']*'")
# A QName's prefix: "p:" followed by a name or "*", but not an axis ("child::").
_PREFIX = re.compile(r"(?<![\w.\-])([A-Za-z_][\w.\-]*):(?=[A-Za-z_*])")
_PROBE = etree.ElementTree(etree.Element("probe"))


class PredicateError(ValueError):
    """An XPath predicate cannot be used; the message says why and what to do."""


def compile_predicate(expression: str, namespaces: Mapping[str, str]) -> etree.XPath:
    """Compile ``expression`` with the route's prefixes; raise PredicateError if it cannot work."""
    undeclared = sorted(prefixes_in(expression) - namespaces.keys() - _BUILTIN_PREFIXES)
    if undeclared:
        names = ", ".join(f"'{p}'" for p in undeclared)
        raise PredicateError(
            f"XPath {expression!r} uses the undeclared prefix {names} — "
            "declare it under the route's namespaces:"
        )
    try:
        compiled = etree.XPath(expression, namespaces=dict(namespaces))
    except (etree.XPathSyntaxError, TypeError) as exc:
        raise PredicateError(
            f"XPath {expression!r} does not compile: {exc} — fix the expression"
        ) from exc
    try:
        compiled(_PROBE)
    except etree.XPathError as exc:
        raise PredicateError(
            f"XPath {expression!r} cannot be evaluated: {exc} — fix the expression"
        ) from exc
    return compiled


def prefixes_in(expression: str) -> set[str]:
    """Namespace prefixes used by ``expression`` (string literals ignored)."""
    return set(_PREFIX.findall(_STRING_LITERAL.sub("''", expression)))


def is_true(result: object) -> bool:
    """XPath 1.0 ``boolean()`` of an lxml result: node-sets and strings by emptiness,
    numbers by being neither zero nor NaN."""
    if isinstance(result, bool):
        return result
    if isinstance(result, float):
        return result != 0 and result == result  # NaN is the only value unequal to itself
    if isinstance(result, str | list):
        return len(result) > 0
    return bool(result)
