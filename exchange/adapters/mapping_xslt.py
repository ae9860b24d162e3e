"""How a compiled mapping runs: as an XSLT 1.0 stylesheet generated from it.

Building the output element by element from Python costs about a microsecond per
element in lxml; libxslt builds it in C. Generating a stylesheet from the mapping
once, at load, makes a mapping exactly as fast as the XSLT path (it *is* the XSLT
path), and the stylesheet runs under the same sandbox (``DENY_ALL``, no extension
elements, no Python). What a mapping says maps to XSLT one to one:

- a field → a literal result element with ``xsl:value-of``, as a hand-written
  stylesheet has it; an optional one (``required: false``) sits in an ``xsl:if``
  and is left out when empty; attributes are ``xsl:attribute``, left out when empty;
- ``when`` → ``xsl:if``; ``for_each`` → ``xsl:for-each``; an optional group is
  built into a variable and copied only if it got any content (``exsl:node-set``);
- each step of a value (code list, ``then`` functions) → one ``xsl:variable``.

The functions (``Step``) are written as XPath over the current value, so their
meaning is XSLT's: ``upper``/``lower`` change ASCII letters only, ``decimals``
rounds as ``format-number`` does, ``date`` rearranges fixed-width fields.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from lxml import etree

from exchange.errors import TranslationError

XSL = "http://www.w3.org/1999/XSL/Transform"
EXSL = "http://exslt.org/common"
_EXSL_PREFIX = "mapping-exsl"
_ASCII_LOWER = "abcdefghijklmnopqrstuvwxyz"
_ASCII_UPPER = _ASCII_LOWER.upper()
_DENY_ALL: etree.XSLTAccessControl = cast(Any, etree.XSLTAccessControl).DENY_ALL


@dataclass(frozen=True)
class Step:
    """One transformation of a non-empty value: an XPath over ``{v}``, or a code table.

    ``check`` (over ``{v}``) must hold, else the translation stops with
    ``error_before`` + the value + ``error_after``.
    """

    xpath: str | None = None
    table: Mapping[str, str] | None = None
    default: str | None = None
    check: str | None = None
    error_before: str = ""
    error_after: str = ""


@dataclass(frozen=True)
class FieldSpec:
    """A checked field of a mapping file, as the generator needs it."""

    where: str  # file:line
    name: str  # Clark name
    is_attribute: bool
    exprs: tuple[str, ...]  # from: (one) or join: (several) XPath expressions
    separator: str
    constant: str | None
    steps: tuple[Step, ...]
    required: bool
    when: str | None
    for_each: str | None
    children: tuple[FieldSpec, ...]


# -- the functions of ``then:`` ---------------------------------------------------------------


def upper() -> Step:
    return Step(xpath=f"translate({{v}}, '{_ASCII_LOWER}', '{_ASCII_UPPER}')")


def lower() -> Step:
    return Step(xpath=f"translate({{v}}, '{_ASCII_UPPER}', '{_ASCII_LOWER}')")


def trim() -> Step:
    return Step(xpath="normalize-space({v})")


def substring(start: int, length: int | None) -> Step:
    tail = f", {length}" if length is not None else ""
    return Step(xpath=f"substring({{v}}, {start}{tail})")


def decimals(places: int) -> Step:
    picture = "0." + "#" * places if places else "0"
    return Step(
        xpath=f"format-number({{v}}, '{picture}')",
        check="string(number({v})) != 'NaN'",
        error_before="'",
        error_after="' is not a number",
    )


def code_table(table: Mapping[str, str], default: str | None, name: str | None) -> Step:
    label = f"code list '{name}'" if name else "the code list of map:"
    return Step(
        table=table,
        default=default,
        error_before="code '",
        error_after=f"' is not in {label}; add it" + ("" if name else " or give a default"),
    )


_DATE_FIELDS = {"Y": 4, "m": 2, "d": 2, "H": 2, "M": 2, "S": 2}


def date(source: str, target: str) -> Step:
    """Rearrange fixed-width date fields: ``%Y%m%d`` → ``%Y-%m-%d``; ValueError if unsupported."""
    positions: dict[str, tuple[int, int]] = {}
    pattern: list[str] = []
    offset = 1
    for token in re.findall(r"%.|[^%]+", source):
        if token.startswith("%"):
            width = _DATE_FIELDS.get(token[1])
            if width is None:
                raise ValueError(f"date formats take %Y %m %d %H %M %S, not {token}")
            positions[token[1]] = (offset, width)
            pattern.append(f"translate(substring({{v}}, {offset}, {width}), '0123456789', '')")
            offset += width
        else:
            offset += len(token)
    parts: list[str] = []
    for token in re.findall(r"%.|[^%]+", target):
        if token.startswith("%"):
            if token[1] not in positions:
                raise ValueError(f"{token} of to: is not in from: {source!r}")
            start, width = positions[token[1]]
            parts.append(f"substring({{v}}, {start}, {width})")
        else:
            parts.append(literal(token))
    xpath = parts[0] if len(parts) == 1 else f"concat({', '.join(parts)})"
    digits = " and ".join(f"{p} = ''" for p in pattern) or "true()"
    return Step(
        xpath=xpath,
        check=f"string-length({{v}}) = {offset - 1} and {digits}",
        error_before="date '",
        error_after=f"' does not match {source!r}",
    )


def literal(text: str) -> str:
    """``text`` as an XPath 1.0 string literal (which has no escapes: concat when needed)."""
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat(" + ', "\'", '.join(f"'{part}'" for part in text.split("'")) + ")"


# -- generating the stylesheet ----------------------------------------------------------------


class _Generator:
    def __init__(self, adapter: str) -> None:
        self.adapter = adapter
        self.count = 0

    def var(self) -> str:
        self.count += 1
        return f"v{self.count}"

    def stylesheet(
        self,
        source_ns: Mapping[str, str],
        root_tag: str,
        nsmap: Mapping[str | None, str],
        fields: Sequence[FieldSpec],
    ) -> etree._Element:
        declared: Any = {"xsl": XSL, _EXSL_PREFIX: EXSL, **source_ns}
        sheet = etree.Element(f"{{{XSL}}}stylesheet", nsmap=declared, version="1.0")
        sheet.set("exclude-result-prefixes", " ".join([_EXSL_PREFIX, *source_ns]))
        etree.SubElement(sheet, f"{{{XSL}}}output", method="xml", encoding="UTF-8")
        template = etree.SubElement(sheet, f"{{{XSL}}}template", match="/*")
        root = etree.SubElement(template, root_tag, nsmap=cast(Any, dict(nsmap)))
        for field in fields:
            self.field(field, root)
        return sheet

    def xsl(self, parent: etree._Element, instruction: str, **attributes: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{XSL}}}{instruction}", attributes)

    def stop(self, parent: etree._Element, where: str, before: str, value: str, after: str) -> None:
        message = self.xsl(parent, "message", terminate="yes")
        message.text = f"{where}: {before}"
        shown = self.xsl(message, "value-of", select=value)
        shown.tail = after

    def make(self, parent: etree._Element, field: FieldSpec) -> etree._Element:
        """The field's element (a literal result element: libxslt copies those fastest)."""
        if not field.is_attribute:
            return etree.SubElement(parent, field.name)
        qname = etree.QName(field.name)
        attributes = {"name": qname.localname}
        if qname.namespace:
            attributes["namespace"] = qname.namespace
        return self.xsl(parent, "attribute", **attributes)

    def field(self, field: FieldSpec, parent: etree._Element) -> None:
        if field.when is not None:
            parent = self.xsl(parent, "if", test=field.when)
        if field.for_each is not None:
            parent = self.xsl(parent, "for-each", select=field.for_each)
        if field.children:
            self.group(field, parent)
        else:
            self.leaf(field, parent)

    def group(self, field: FieldSpec, parent: etree._Element) -> None:
        if field.required:
            element = self.make(parent, field)
            for child in field.children:
                self.field(child, element)
            return
        name = self.var()
        holder = self.xsl(parent, "variable", name=name)
        element = self.make(holder, field)
        for child in field.children:
            self.field(child, element)
        built = f"{_EXSL_PREFIX}:node-set(${name})/*"
        present = self.xsl(parent, "if", test=f"{built}/node() or {built}/@*")
        self.xsl(present, "copy-of", select=built)

    def leaf(self, field: FieldSpec, parent: etree._Element) -> None:
        # A required element is written even when empty, as a stylesheet would: the target
        # type's schema, which the hub checks every output against, says whether that is
        # allowed. An optional one is left out when empty. No test on the hot path.
        value = self.value(field, parent)
        if not field.required or field.is_attribute:
            parent = self.xsl(parent, "if", test=f"{value} != ''")
        self.xsl(self.make(parent, field), "value-of", select=value)

    def value(self, field: FieldSpec, parent: etree._Element) -> str:
        """Declare the variables computing the field's value; the last one's reference."""
        if field.constant is not None:
            current = literal(field.constant)
        elif len(field.exprs) == 1 and not field.steps:
            current = f"normalize-space({field.exprs[0]})"
        elif len(field.exprs) == 1:
            name = self.var()
            self.xsl(parent, "variable", name=name, select=f"normalize-space({field.exprs[0]})")
            current = f"${name}"
        else:
            current = self.join(field, parent)
        for step in field.steps:
            current = self.step(step, current, field.where, parent)
        return current

    def join(self, field: FieldSpec, parent: etree._Element) -> str:
        parts = []
        for expr in field.exprs:
            name = self.var()
            self.xsl(parent, "variable", name=name, select=f"normalize-space({expr})")
            parts.append(f"${name}")
        pieces = [parts[0]]
        for index, part in enumerate(parts[1:], start=1):
            if field.separator:
                earlier = " or ".join(f"{p} != ''" for p in parts[:index])
                pieces.append(_only_if(f"{part} != '' and ({earlier})", literal(field.separator)))
            pieces.append(part)
        return f"concat({', '.join(pieces)}, '')"

    def step(self, step: Step, current: str, where: str, parent: etree._Element) -> str:
        # Every step is one string variable computed by a select: result tree fragments
        # (xsl:variable with content) cost several times more in libxslt.
        present = f"{current} != ''"
        if step.table is not None:
            known = " or ".join(f"{current} = {literal(code)}" for code in step.table) or "false()"
            pieces = [
                _only_if(f"{current} = {literal(c)}", literal(m)) for c, m in step.table.items()
            ]
            if step.default is not None:
                pieces.append(_only_if(f"{present} and not({known})", literal(step.default)))
            else:
                failed = self.xsl(parent, "if", test=f"{present} and not({known})")
                self.stop(failed, where, step.error_before, current, step.error_after)
            expression = f"concat({', '.join(pieces)}, '')"
        else:
            if step.check is not None:
                test = f"{present} and not({step.check.format(v=current)})"
                self.stop(
                    self.xsl(parent, "if", test=test),
                    where,
                    step.error_before,
                    current,
                    step.error_after,
                )
            assert step.xpath is not None
            expression = _only_if(present, step.xpath.format(v=current))
        name = self.var()
        self.xsl(parent, "variable", name=name, select=expression)
        return f"${name}"


def _only_if(condition: str, value: str) -> str:
    """``value`` when ``condition`` holds, else '' (XPath 1.0 has no if: substring(s, 1 div b))."""
    return f"substring({value}, 1 div ({condition}))"


def generate(
    adapter: str,
    source_ns: Mapping[str, str],
    root_tag: str,
    nsmap: Mapping[str | None, str],
    fields: Sequence[FieldSpec],
) -> etree._Element:
    """The stylesheet that runs a mapping: one template over the source root element."""
    return _Generator(adapter).stylesheet(source_ns, root_tag, nsmap, fields)


class CompiledMapping:
    """Runs a generated stylesheet; each thread compiles its own (``etree.XSLT`` is not shared)."""

    def __init__(self, adapter: str, stylesheet: etree._Element) -> None:
        self.adapter = adapter
        self.stylesheet = stylesheet
        self._local = threading.local()
        self._local.xslt = self._compile()

    def _compile(self) -> etree.XSLT:
        return etree.XSLT(self.stylesheet, access_control=_DENY_ALL, regexp=False)

    def __call__(self, document: etree._ElementTree) -> etree._ElementTree:
        xslt: etree.XSLT | None = getattr(self._local, "xslt", None)
        if xslt is None:
            xslt = self._local.xslt = self._compile()
        try:
            result: etree._ElementTree = xslt(document)
        except etree.XSLTApplyError as exc:
            entries = cast(Any, xslt).error_log
            reasons = "; ".join(
                dict.fromkeys(str(e.message).strip() for e in entries if str(e.message).strip())
            )
            raise TranslationError(f"adapter '{self.adapter}': {reasons or exc}") from exc
        return result
