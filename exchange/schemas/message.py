"""One message type at one version: its compiled schema, its business rules, its samples.

Compiling is lazy: :meth:`MessageSchema.from_manifest` with ``compile=False`` (what
``SchemaRegistry.load`` does) only reads the manifest and binds the rules; the XSD is compiled
on the first :meth:`~MessageSchema.validate` (or :meth:`~MessageSchema.compile`), once, through
the process-wide cache of :mod:`exchange.schemas.cache`. After that, validate costs one
attribute check more than an eagerly compiled schema did.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from lxml import etree

from exchange.errors import ConfigError, Problem
from exchange.schemas import cache, compiler
from exchange.schemas.checks import BusinessRule, bind_rule
from exchange.schemas.manifest import Manifest
from exchange.schemas.sources import declared_elements

XsdCheck = Callable[[etree._ElementTree], list[Problem]]


@dataclass(frozen=True)
class MessageSchema:
    """A registered message type; :meth:`validate` is the hot path of ingress and router.

    Built by :meth:`from_manifest`; the XSD is compiled at the first :meth:`validate` or
    :meth:`compile`, whichever comes first. The check fields are not part of equality or repr.
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
    _compile_lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    @property
    def qname(self) -> str:
        """Clark notation ``{namespace}root``: the message type as the payload states it."""
        return f"{{{self.namespace}}}{self.root}"

    @classmethod
    def from_manifest(cls, manifest: Manifest, *, compile: bool = True) -> MessageSchema:
        """The schema the manifest describes, its rules bound; compiled now unless
        ``compile`` is False. ConfigError naming the file and the fix if it is wrong."""
        where = str(manifest.path)
        rules = tuple(
            bind_rule(spec.rule, spec.path, manifest.namespaces, manifest.folder, where)
            for spec in manifest.rules
        )
        schema = cls(
            name=manifest.name,
            version=manifest.version,
            namespace=manifest.namespace,
            root=manifest.root,
            title=manifest.title,
            folder=manifest.folder,
            xsd_path=manifest.xsd_path,
            xsd_version=manifest.xsd_version,
            rules=rules,
            manifest=manifest,
        )
        if compile:
            schema.compile()
        return schema

    @property
    def compiled(self) -> bool:
        return self.xsd_check is not None

    def compile(self) -> XsdCheck:
        """Compile the XSD if not yet done (thread-safe); ConfigError naming the file if not."""
        check = self.xsd_check
        if check is not None:
            return check
        manifest = self.manifest
        if manifest is None:
            raise RuntimeError(f"{self.name} {self.version} was not built by from_manifest")
        with self._compile_lock:
            check = self.xsd_check
            if check is None:
                key = (
                    cache.folder_digest(manifest.folder),
                    manifest.xsd,
                    manifest.xsd_version,
                    manifest.namespace,
                    manifest.root,
                )
                check = cache.compiled(key, lambda: _compile(manifest))
                # Frozen for everyone else: the compiled check is set once, here, under the lock.
                object.__setattr__(self, "xsd_check", check)
        return check

    def validate(self, tree: etree._ElementTree) -> list[Problem]:
        """Every XSD error (rule "xsd"); then, only if the XSD passed, every business-rule error.

        An empty list means the document is valid. A python: rule that raises is a fault of the
        schema set, not of the sender, and surfaces as ConfigError.
        """
        check = self.xsd_check
        if check is None:
            check = self.compile()
        problems = check(tree)
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


def _compile(manifest: Manifest) -> XsdCheck:
    """Compile the manifest's XSD and check that it declares the manifest's root."""
    xsd_path = manifest.xsd_path
    xsd_check: XsdCheck
    if manifest.xsd_version == "1.1":
        xsd_check = _Xsd11Check(
            compiler.compile_xmlschema(xsd_path, manifest.folder, xsd_version="1.1")
        )
    else:
        xsd_check = _LxmlCheck(compiler.compile_lxml(xsd_path, manifest.folder))
    declared = declared_elements(xsd_path)
    qname = f"{{{manifest.namespace}}}{manifest.root}"
    if qname not in declared:
        listing = ", ".join(declared[:8]) + (
            f" and {len(declared) - 8} more" if len(declared) > 8 else ""
        )
        raise ConfigError(
            f"{manifest.path}: namespace and root name {qname}, but {manifest.xsd} declares "
            f"{listing or 'no global element'}; fix namespace or root"
        )
    return xsd_check


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
