"""XSLT adapters, sandboxed: a stylesheet can only turn its input into its output.

What a stylesheet cannot do here, and how that is enforced:

- read a file or a URL at run time (``document()``): the transform runs with
  ``XSLTAccessControl.DENY_ALL``, which refuses file and network reads and
  writes and directory creation; the attempt fails the translation;
- write files (``exsl:document``, ``xsl:document``, saxon/xalan/xt writers):
  extension elements and ``xsl:document`` are refused when the adapter is
  loaded, and DENY_ALL refuses the write anyway;
- pull in other stylesheets: ``xsl:import`` and ``xsl:include`` are refused
  when the adapter is loaded. Resolving them "only inside the folder" would
  need our own resolver and its own escape checks; one self-contained file per
  adapter is simpler to review and costs little;
- use a DTD or entities: a stylesheet with a DOCTYPE is refused, and it is
  parsed with entity resolution, DTD loading and network access off;
- call Python: no extension functions are passed to lxml and lxml's own
  regular-expression extension is switched off. The EXSLT functions built into
  libxslt (``str:``, ``math:``, ``date:``, ``set:``, ``exsl:node-set``) stay
  available: they only compute on the documents at hand.

A compiled stylesheet (``etree.XSLT``) must not be used by two threads at once,
so each thread compiles its own copy on first use; the adapter itself can be
shared freely.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any, cast

from lxml import etree

from exchange.adapters.base import Adapter, AdapterSpec
from exchange.adapters.problems import AdapterConfigError
from exchange.envelope import Envelope
from exchange.errors import Problem, TranslationError

log = logging.getLogger(__name__)

XSL_NS = "http://www.w3.org/1999/XSL/Transform"
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_REFUSED_XSL = {
    "import": "xsl:import is refused; copy the imported templates into this stylesheet",
    "include": "xsl:include is refused; copy the included templates into this stylesheet",
    "document": "xsl:document is refused (it writes files); produce one result document",
}


# lxml-stubs 0.5 lacks these members; they are documented lxml API.
_DENY_ALL: etree.XSLTAccessControl = cast(Any, etree.XSLTAccessControl).DENY_ALL


def _error_log(xslt: etree.XSLT) -> etree._ListErrorLog:
    log_: etree._ListErrorLog = cast(Any, xslt).error_log
    return log_


# Compiled XPath objects are not shared between threads either.
_checks = threading.local()


def _has_loose_text(result: etree._XSLTResultTree) -> bool:
    """Whether the result has non-blank text beside its root element (not well-formed XML)."""
    check: etree.XPath | None = getattr(_checks, "loose_text", None)
    if check is None:
        check = _checks.loose_text = etree.XPath("boolean(/text()[normalize-space()])")
    return bool(check(result))


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        no_network=True, resolve_entities=False, load_dtd=False, dtd_validation=False
    )


class XsltAdapter(Adapter):
    """Runs one XSLT 1.0 stylesheet; ``spec.options`` become string parameters."""

    def __init__(self, spec: AdapterSpec, stylesheet: Path) -> None:
        super().__init__(spec)
        self.stylesheet = stylesheet
        try:
            self._text = stylesheet.read_bytes()
        except OSError as exc:
            raise AdapterConfigError(
                [f"{stylesheet}: cannot read the stylesheet ({exc}); check the file"]
            ) from exc
        tree = self._parse()
        self._check_sandbox(tree)
        self._check_options(tree)
        self._params = {k: etree.XSLT.strparam(v) for k, v in spec.options.items()}
        self._local = threading.local()
        self._local.xslt = self._compile(tree)

    def translate(self, document: etree._ElementTree, envelope: Envelope) -> etree._ElementTree:
        xslt = self._xslt()
        try:
            result: etree._XSLTResultTree = cast(Any, xslt)(document, **self._params)
        except etree.XSLTApplyError as exc:
            problems = _problems(_error_log(xslt)) or [Problem(message=str(exc), rule="xslt")]
            reasons = "; ".join(p.message for p in problems)
            raise TranslationError(
                f"adapter '{self.spec.name}': stylesheet {self.stylesheet.name} stopped: "
                f"{reasons}; check the input document against {self.spec.source} "
                "or fix the stylesheet",
                problems,
            ) from exc
        if log.isEnabledFor(logging.DEBUG):
            for entry in _error_log(xslt):
                log.debug("adapter %s: xsl:message %s", self.spec.name, entry.message)
        self._check_result(result)
        return result

    def _check_result(self, result: etree._XSLTResultTree) -> None:
        root = result.getroot()
        if root is None:
            raise TranslationError(
                f"adapter '{self.spec.name}': stylesheet {self.stylesheet.name} produced no "
                "XML element (empty or text output); make it output one root element"
            )
        extra_root = any(isinstance(s.tag, str) for s in root.itersiblings()) or any(
            isinstance(s.tag, str) for s in root.itersiblings(preceding=True)
        )
        if extra_root or _has_loose_text(result):
            raise TranslationError(
                f"adapter '{self.spec.name}': stylesheet {self.stylesheet.name} produced "
                "several top-level elements or top-level text; wrap them in one root element"
            )

    def _xslt(self) -> etree.XSLT:
        xslt: etree.XSLT | None = getattr(self._local, "xslt", None)
        if xslt is None:
            xslt = self._local.xslt = self._compile(self._parse())
        return xslt

    def _parse(self) -> etree._ElementTree:
        where = str(self.stylesheet)
        if _DOCTYPE.search(self._text):
            raise AdapterConfigError(
                [f"{where}: DOCTYPE and ENTITY declarations are refused; remove them"]
            )
        try:
            root = etree.fromstring(self._text, _parser(), base_url=where)
        except etree.XMLSyntaxError as exc:
            raise AdapterConfigError(
                [f"{where}:{exc.lineno}: not well-formed XML ({exc.msg}); fix the stylesheet"]
            ) from exc
        tree = root.getroottree()
        docinfo: Any = tree.docinfo
        if docinfo.doctype or docinfo.internalDTD is not None:
            raise AdapterConfigError(
                [f"{where}: DOCTYPE declarations are refused in stylesheets; remove it"]
            )
        return tree

    def _check_sandbox(self, tree: etree._ElementTree) -> None:
        problems: list[str] = []
        for element in tree.iter(etree.Element):
            qname = etree.QName(element)
            if qname.namespace == XSL_NS and qname.localname in _REFUSED_XSL:
                problems.append(
                    f"{self.stylesheet}:{element.sourceline}: {_REFUSED_XSL[qname.localname]}"
                )
            prefixes = (
                element.get("extension-element-prefixes")
                if qname.namespace == XSL_NS
                else element.get(f"{{{XSL_NS}}}extension-element-prefixes")
            )
            if prefixes and prefixes.strip():
                problems.append(
                    f"{self.stylesheet}:{element.sourceline}: extension elements are refused "
                    f'(extension-element-prefixes="{prefixes}"); remove the attribute and '
                    "use plain XSLT 1.0 (EXSLT functions are fine)"
                )
        if problems:
            raise AdapterConfigError(problems)

    def _check_options(self, tree: etree._ElementTree) -> None:
        declared = {
            str(p.get("name"))
            for p in tree.getroot().iterchildren(f"{{{XSL_NS}}}param")
            if p.get("name")
        }
        if "profile_run" in self.spec.options:
            raise AdapterConfigError(
                [
                    f"{self.stylesheet}: option name 'profile_run' is reserved by the XSLT engine; "
                    "rename the option and its xsl:param"
                ]
            )
        unknown = sorted(set(self.spec.options) - declared)
        if unknown:
            listed = ", ".join(sorted(declared)) or "none"
            raise AdapterConfigError(
                [
                    f"{self.stylesheet}: options {', '.join(unknown)} of adapter "
                    f"'{self.spec.name}' are not top-level xsl:param of the stylesheet "
                    f"(declared: {listed}); declare them or remove them from adapter.yaml"
                ]
            )

    def _compile(self, tree: etree._ElementTree) -> etree.XSLT:
        try:
            return etree.XSLT(tree, access_control=_DENY_ALL, regexp=False)
        except etree.XSLTParseError as exc:
            problems = _problems(exc.error_log) or [Problem(message=str(exc))]
            detail = "; ".join(
                f"line {p.line}: {p.message}" if p.line else p.message for p in problems
            )
            raise AdapterConfigError(
                [f"{self.stylesheet}: the stylesheet does not compile: {detail}; fix it"]
            ) from exc


def _problems(error_log: etree._ListErrorLog) -> list[Problem]:
    """Distinct messages of an lxml error log, in order (libxslt repeats some)."""
    seen: set[tuple[str, int | None]] = set()
    problems: list[Problem] = []
    for entry in error_log:
        message = str(entry.message).strip()
        line = entry.line or None
        if not message or (message, line) in seen:
            continue
        seen.add((message, line))
        problems.append(Problem(message=message, line=line, rule="xslt"))
    return problems
