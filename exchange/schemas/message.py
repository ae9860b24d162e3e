"""One message type at one version: its compiled schema, its business rules, its samples."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from lxml import etree

from exchange.errors import ConfigError, Problem
from exchange.schemas import compiler
from exchange.schemas.checks import BusinessRule, bind_rule
from exchange.schemas.manifest import Manifest
from exchange.schemas.sources import global_elements

XsdCheck = Callable[[etree._ElementTree], list[Problem]]


@dataclass(frozen=True)
class MessageSchema:
    """A registered message type; :meth:`validate` is the hot path of ingress and router.

    Built by :meth:`from_manifest` (which compiles the XSD once); the check fields are not
    part of equality or repr.
    """

    name: str
    version: str
    namespace: str
    root: str
    title: str | None
    folder: Path
    xsd_path: Path = field(repr=False)
    xsd_version: str = field(default="1.0", repr=False)
    rules: tuple[BusinessRule, ...] = field(default=(), repr=False, compare=False)
    xsd_check: XsdCheck | None = field(default=None, repr=False, compare=False)
    #: what the folder's manifest.yaml says (owner, titles, descriptions, compatibility policy)
    manifest: Manifest | None = field(default=None, repr=False, compare=False)

    @property
    def qname(self) -> str:
        """Clark notation ``{namespace}root``: the message type as the payload states it."""
        return f"{{{self.namespace}}}{self.root}"

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> MessageSchema:
        """Compile the manifest's XSD and bind its rules; ConfigError naming the file if not."""
        xsd_path = manifest.xsd_path
        where = str(manifest.path)
        if manifest.xsd_version == "1.1":
            xsd_check: XsdCheck = _Xsd11Check(
                compiler.compile_xmlschema(xsd_path, manifest.folder, xsd_version="1.1")
            )
        else:
            xsd_check = _LxmlCheck(compiler.compile_lxml(xsd_path, manifest.folder))
        declared = global_elements(xsd_path)
        qname = f"{{{manifest.namespace}}}{manifest.root}"
        if qname not in declared:
            raise ConfigError(
                f"{where}: namespace and root name {qname}, but {manifest.xsd} declares "
                f"{', '.join(declared) or 'no global element'}; fix namespace or root"
            )
        rules = tuple(
            bind_rule(spec.rule, spec.path, manifest.namespaces, manifest.folder, where)
            for spec in manifest.rules
        )
        return cls(
            name=manifest.name,
            version=manifest.version,
            namespace=manifest.namespace,
            root=manifest.root,
            title=manifest.title,
            folder=manifest.folder,
            xsd_path=xsd_path,
            xsd_version=manifest.xsd_version,
            rules=rules,
            xsd_check=xsd_check,
            manifest=manifest,
        )

    def validate(self, tree: etree._ElementTree) -> list[Problem]:
        """Every XSD error (rule "xsd"); then, only if the XSD passed, every business-rule error.

        An empty list means the document is valid. A python: rule that raises is a fault of the
        schema set, not of the sender, and surfaces as ConfigError.
        """
        if self.xsd_check is None:
            raise RuntimeError(f"{self.name} {self.version} was not built by from_manifest")
        problems = self.xsd_check(tree)
        if problems:
            return problems
        for rule in self.rules:
            problems.extend(rule.check(tree))
        if len(problems) > 1:
            problems.sort(key=_by_line)  # in document order, whichever rule found them
        return problems

    def samples(self, kind: str = "valid") -> list[Path]:
        """Sample documents shipped with the schema: ``kind`` is "valid" or "invalid"."""
        return sorted((self.folder / "samples" / kind).glob("*.xml"))


class _LxmlCheck:
    """libxml2 validation; one compiled schema shared by every call.

    The compiled schema keeps its error log on itself, so a lock makes validate-then-read-log
    atomic when several threads validate the same type (uncontended, it costs well under a
    microsecond).
    """

    def __init__(self, schema: etree.XMLSchema) -> None:
        self._schema = schema
        self._lock = threading.Lock()

    def __call__(self, tree: etree._ElementTree) -> list[Problem]:
        with self._lock:
            if self._schema.validate(tree):
                return []
            return [
                Problem(
                    message=entry.message,
                    line=entry.line or None,
                    path=entry.path or None,
                    rule="xsd",
                )
                for entry in cast(Iterable[Any], self._schema.error_log)
                if entry.level >= etree.ErrorLevels.ERROR
            ]


class _Xsd11Check:
    """xmlschema (XSD 1.1) validation: the slow path, for schemas that need assertions etc."""

    def __init__(self, schema: Any) -> None:
        self._schema = schema
        self._lock = threading.Lock()

    def __call__(self, tree: etree._ElementTree) -> list[Problem]:
        with self._lock:
            errors = list(self._schema.iter_errors(tree))
        return [
            Problem(
                message=_xmlschema_message(err),
                line=getattr(err, "sourceline", None),
                path=_lxml_path(tree, err) or err.path,
                rule="xsd",
            )
            for err in errors
        ]


def _xmlschema_message(error: Any) -> str:
    """Worded like libxml2's messages: the element, then the reason (and the assertion)."""
    reason = " ".join(str(error.reason or error.message).split())
    test = getattr(error.validator, "path", None)
    if type(error.validator).__name__ == "XsdAssert" and test:
        reason = f"{reason}: {test}"
    element = getattr(error, "elem", None)
    if isinstance(element, etree._Element):
        return f"Element '{element.tag}': {reason}"
    return reason


def _lxml_path(tree: etree._ElementTree, error: Any) -> str | None:
    """The same kind of path lxml reports, so both engines' problems read alike."""
    element = getattr(error, "elem", None)
    if isinstance(element, etree._Element):
        try:
            return str(tree.getpath(element))
        except ValueError:
            return None
    return None


def _by_line(problem: Problem) -> int:
    return problem.line or 0
