"""Business rules bound to the XPath a manifest names: compiled once, run after XSD passes.

A manifest entry ``{rule: uscc, path: /samr:Registration/samr:CreditCode}`` becomes a
:class:`BusinessRule` whose :meth:`~BusinessRule.check` selects every matching element or
attribute and turns each failure into a Problem with the node's line and path.

``rule: python:rules.py:function_name`` loads ``function_name`` from ``rules.py`` in the schema
folder; the function takes the text and returns an error message or None, like the built-ins.

Rule ids are found in ``RULE_KINDS`` (``exchange.plugins``): the built-ins of
``exchange.schemas.rules`` plus the entry point group ``exchange.rules``, whose entries
name such a function in an installed package::

    [project.entry-points."exchange.rules"]
    licence-no = "permits.rules:licence_number"
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from lxml import etree

from exchange.errors import ConfigError, PluginError, Problem
from exchange.plugins import PluginRegistry
from exchange.schemas.rules import BUILTIN_RULES, Rule

PYTHON_PREFIX = "python:"
ENTRY_POINT_GROUP = "exchange.rules"

RULE_KINDS: PluginRegistry[Rule] = PluginRegistry(
    "business-rule",
    ENTRY_POINT_GROUP,
    BUILTIN_RULES,
    check=callable,
    expected="a function that takes the text and returns an error message or None",
)


@dataclass(frozen=True)
class BusinessRule:
    """One rule applied to the nodes one XPath selects."""

    rule_id: str
    path: str
    function: Rule
    xpath: etree.XPath

    def check(self, tree: etree._ElementTree) -> list[Problem]:
        problems: list[Problem] = []
        found = self.xpath(tree)
        for node in found if isinstance(found, list) else [found]:
            text = _text(node)
            if text is None:
                continue
            try:
                message = self.function(text)
            except Exception as exc:
                raise ConfigError(
                    f"business rule {self.rule_id!r} raised {type(exc).__name__}: {exc}; "
                    "fix the rule so that it returns an error message or None"
                ) from exc
            if message is not None:
                # Where it is only matters on failure: getpath is the dearest step here.
                line, path = _where(tree, node)
                problems.append(Problem(message=message, line=line, path=path, rule=self.rule_id))
        return problems


def _text(node: Any) -> str | None:
    """The value a rule checks: an element's text content, an attribute's or text node's value.

    None for what carries no value (comments, processing instructions, numbers, booleans).
    """
    if isinstance(node, etree._Element):
        if not isinstance(node.tag, str):
            return None
        if len(node) == 0:  # the common case, a simple-content element: skip itertext
            return (node.text or "").strip()
        return "".join(cast(Iterable[str], node.itertext())).strip()
    if isinstance(node, str):
        return node.strip()
    return None


def _where(tree: etree._ElementTree, node: Any) -> tuple[int | None, str | None]:
    """Source line and path (as lxml's getpath writes it) of a selected element or attribute."""
    if isinstance(node, etree._Element):
        return _line(node), tree.getpath(node)
    if isinstance(node, etree._ElementUnicodeResult):
        parent = node.getparent()
        if parent is None:
            return None, None
        if node.is_attribute and node.attrname is not None:
            return _line(parent), f"{tree.getpath(parent)}/@{_attr_name(parent, node)}"
        return _line(parent), tree.getpath(parent)
    return None, None


def _line(element: etree._Element) -> int | None:
    line: object = element.sourceline
    return line if isinstance(line, int) else None


def _attr_name(element: etree._Element, node: etree._ElementUnicodeResult) -> str:
    name = str(node.attrname)
    if not name.startswith("{"):
        return name
    namespace, local = name[1:].split("}", 1)
    for prefix, uri in element.nsmap.items():
        if uri == namespace and prefix:
            return f"{prefix}:{local}"
    return name


def bind_rule(
    rule_id: str, path: str, namespaces: Mapping[str, str], folder: Path, where: str
) -> BusinessRule:
    """Resolve ``rule_id`` and compile ``path``; ConfigError (naming ``where``) if either fails."""
    function = _resolve(rule_id, folder, where)
    try:
        xpath = etree.XPath(path, namespaces=dict(namespaces))
    except etree.XPathSyntaxError as exc:
        raise ConfigError(
            f"{where}: path {path!r} of rule {rule_id!r} is not valid XPath 1.0 ({exc}); "
            "fix it and declare every prefix it uses under namespaces:"
        ) from exc
    try:
        # Undeclared prefixes and unknown functions only show when the path is evaluated.
        xpath(etree.ElementTree(etree.Element("probe")))
    except etree.XPathEvalError as exc:
        raise ConfigError(
            f"{where}: path {path!r} of rule {rule_id!r} cannot be evaluated ({exc}); declare "
            "every prefix it uses under namespaces: and use XPath 1.0 functions only"
        ) from exc
    return BusinessRule(rule_id=rule_id, path=path, function=function, xpath=xpath)


def _resolve(rule_id: str, folder: Path, where: str) -> Rule:
    if rule_id.startswith(PYTHON_PREFIX):
        return _load_python_rule(rule_id, folder, where)
    if rule_id not in RULE_KINDS:
        known = RULE_KINDS.kinds()
        close = difflib.get_close_matches(rule_id, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"{where}: unknown rule {rule_id!r}; {hint}known rules are "
            f"{', '.join(known)}, or use python:FILE.py:FUNCTION "
            f"(installed packages add rules in the entry point group '{ENTRY_POINT_GROUP}')"
        )
    try:
        return RULE_KINDS.get(rule_id)
    except PluginError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _load_python_rule(rule_id: str, folder: Path, where: str) -> Rule:
    spec_text = rule_id[len(PYTHON_PREFIX) :]
    file_name, _, function_name = spec_text.rpartition(":")
    if not file_name or not function_name.isidentifier():
        raise ConfigError(
            f"{where}: rule {rule_id!r} must read python:FILE.py:FUNCTION, e.g. "
            "python:rules.py:check_licence"
        )
    folder = folder.resolve()
    source = (folder / file_name).resolve()
    if folder not in source.parents or source.suffix != ".py":
        raise ConfigError(
            f"{where}: rule {rule_id!r} must name a .py file inside {folder}; move the file there"
        )
    if not source.is_file():
        raise ConfigError(f"{where}: rule {rule_id!r}: {source} does not exist; add the file")
    # A unique module name per file, so two schema folders can both have a rules.py.
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"exchange_schema_rules_{digest}", source)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{where}: rule {rule_id!r}: cannot load {source} as a Python module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ConfigError(
            f"{where}: rule {rule_id!r}: importing {source} raised {type(exc).__name__}: {exc}; "
            "fix the file"
        ) from exc
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ConfigError(
            f"{where}: rule {rule_id!r}: {source} has no function {function_name!r}; "
            "define it (it takes the text and returns an error message or None)"
        )
    checked: Rule = function
    return checked
