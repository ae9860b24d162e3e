"""The adapter test kit: golden cases and the source type's samples, run through an adapter.

An adapter folder may hold a ``tests/`` folder of golden cases, each a pair of files::

    adapters/samr-to-canonical/tests/
        nanning-guineng.input.xml      # a document of the adapter's source type
        nanning-guineng.expected.xml   # what the adapter must turn it into

For each pair the kit translates the input (with a test envelope), validates the
output against the target type and compares it with the expected document as
canonical XML (C14N 2.0, comments dropped, whitespace-only text between elements
ignored), so that indentation, attribute order and namespace prefixes do not
matter but every element, attribute and text does (an attribute whose value is a
QName, such as ``xsi:type``, is compared as text). A difference is reported as
the path of the first differing node and a unified diff of both pretty-printed
canonical forms. Every valid sample of the source type (``samples/valid/``) is
also translated and its output validated: an adapter must accept whatever its
source type allows.

Results are data (:class:`CaseResult`), so ``exchange adapters test`` and pytest
read the same thing.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lxml import etree

from exchange import xml
from exchange.adapters.base import Adapter
from exchange.adapters.chain import translate_chain
from exchange.envelope import Envelope
from exchange.errors import ExchangeError, TranslationError
from exchange.schemas import MessageSchema, SchemaRegistry

TESTS_FOLDER = "tests"
INPUT_SUFFIX = ".input.xml"
EXPECTED_SUFFIX = ".expected.xml"
#: lines of context around each difference in a golden case's diff
DIFF_CONTEXT = 3
#: a diff longer than this is cut: the first differences are the ones to read
DIFF_MAX_LINES = 40

CaseKind = Literal["golden", "sample"]


@dataclass(frozen=True)
class GoldenCase:
    """One ``<case>.input.xml`` and its ``<case>.expected.xml`` (None when it is missing)."""

    name: str
    input: Path | None
    expected: Path | None


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case: ``problems`` says why it failed, ``diff`` how it differs."""

    adapter: str
    case: str
    kind: CaseKind
    passed: bool
    problems: tuple[str, ...] = ()
    diff: str | None = None

    def describe(self) -> str:
        """A report block: ``PASS adapter golden:case`` then, when failed, problems and diff."""
        head = f"{'PASS' if self.passed else 'FAIL'} {self.adapter} {self.kind}:{self.case}"
        lines = [head, *(f"    {p}" for p in self.problems)]
        if self.diff:
            lines.extend(f"    {line}" for line in self.diff.splitlines())
        return "\n".join(lines)


def golden_cases(folder: Path) -> list[GoldenCase]:
    """The golden cases in ``folder/tests/``, by case name; a file without its pair is kept."""
    tests = folder / TESTS_FOLDER
    if not tests.is_dir():
        return []
    inputs = {p.name.removesuffix(INPUT_SUFFIX): p for p in tests.glob(f"*{INPUT_SUFFIX}")}
    expected = {p.name.removesuffix(EXPECTED_SUFFIX): p for p in tests.glob(f"*{EXPECTED_SUFFIX}")}
    return [
        GoldenCase(name, inputs.get(name), expected.get(name))
        for name in sorted(inputs.keys() | expected.keys())
    ]


def adapter_folder(origin: str) -> Path | None:
    """The folder of an adapter loaded from ``adapter.yaml`` (None for entry-point adapters)."""
    path = Path(origin)
    return path.parent if path.name == "adapter.yaml" and path.is_file() else None


def run_adapter(
    adapter: Adapter, schemas: SchemaRegistry, folder: Path | None
) -> Iterator[CaseResult]:
    """Every golden case of ``folder`` (if any), then every valid sample of the source type."""
    name = adapter.spec.name
    target = _schema(schemas, adapter.spec.target)
    if isinstance(target, str):
        yield CaseResult(name, "target-type", "golden", False, (target,))
        return
    for case in golden_cases(folder) if folder is not None else []:
        yield run_golden(adapter, target, case)
    source = _schema(schemas, adapter.spec.source)
    if isinstance(source, str):
        yield CaseResult(name, "source-type", "sample", False, (source,))
        return
    for sample in source.samples("valid"):
        yield run_sample(adapter, target, sample)


def run_golden(adapter: Adapter, target: MessageSchema, case: GoldenCase) -> CaseResult:
    """Translate the case's input, validate it against ``target``, compare with the expected."""
    name = adapter.spec.name
    if case.input is None or case.expected is None:
        present, missing = (
            (case.expected, INPUT_SUFFIX) if case.input is None else (case.input, EXPECTED_SUFFIX)
        )
        return CaseResult(
            name,
            case.name,
            "golden",
            False,
            (f"{present}: has no {case.name}{missing} beside it; add it or remove this file",),
        )
    produced = _translate(adapter, case.input)
    if isinstance(produced, str):
        return CaseResult(name, case.name, "golden", False, (produced,))
    problems = _invalid(produced, target)
    try:
        expected = xml.parse(case.expected.read_bytes())
    except (OSError, ExchangeError) as exc:
        return CaseResult(
            name,
            case.name,
            "golden",
            False,
            (*problems, f"{case.expected}: cannot read it ({exc}); fix the expected document"),
        )
    diff = xml_diff(expected, produced, expected_name=str(case.expected))
    if diff is not None:
        problems = (*problems, f"output differs from {case.expected.name}")
    return CaseResult(name, case.name, "golden", not problems, problems, diff)


def run_sample(adapter: Adapter, target: MessageSchema, sample: Path) -> CaseResult:
    """Translate one valid sample of the source type and validate the output."""
    case = sample.stem
    produced = _translate(adapter, sample)
    if isinstance(produced, str):
        return CaseResult(adapter.spec.name, case, "sample", False, (produced,))
    problems = _invalid(produced, target)
    return CaseResult(adapter.spec.name, case, "sample", not problems, problems)


def _schema(schemas: SchemaRegistry, message_type: str) -> MessageSchema | str:
    try:
        return schemas.lookup(message_type)
    except ExchangeError as exc:
        return str(exc)


def _translate(adapter: Adapter, document: Path) -> etree._ElementTree | str:
    """The adapter's output for ``document``, or a one-line reason why there is none."""
    try:
        tree = xml.parse(document.read_bytes())
    except OSError as exc:
        return f"{document}: cannot read it ({exc.strerror}); check the file"
    except ExchangeError as exc:
        return f"{document}: {exc}"
    envelope = Envelope.new(
        sender="adapters-test", message_type=adapter.spec.source, message_id=document.stem
    )
    try:
        return translate_chain([adapter], tree, envelope)
    except TranslationError as exc:
        return f"{document.name}: {exc.detail}"


def _invalid(produced: etree._ElementTree, target: MessageSchema) -> tuple[str, ...]:
    return tuple(
        f"output is not a valid {target.name} {target.version}: "
        f"{f'line {p.line}: ' if p.line else ''}{p.message}"
        for p in target.validate(produced)
    )


# -- canonical comparison ---------------------------------------------------------------------


def canonical(tree: etree._ElementTree | etree._Element) -> str:
    """C14N 2.0 of ``tree`` without comments and without whitespace-only text between elements."""
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    copy = _without_layout(root)
    return str(etree.canonicalize(copy.getroottree(), with_comments=False))


def pretty(canonical_text: str) -> list[str]:
    """The canonical form indented one element a line, for diffs a person can read."""
    root = etree.fromstring(canonical_text.encode("utf-8"))
    etree.indent(root, space="  ")
    return etree.tostring(root, encoding="unicode").splitlines()


def xml_diff(
    expected: etree._ElementTree,
    actual: etree._ElementTree,
    *,
    expected_name: str = "expected",
    actual_name: str = "actual",
) -> str | None:
    """None when both are the same canonical XML; else where they first differ and a diff."""
    want, got = canonical(expected), canonical(actual)
    if want == got:
        return None
    # The canonical forms differ; whether the documents do is decided on names, attributes
    # and text, so that the prefix chosen for a namespace does not make a difference.
    want_root, got_root = etree.fromstring(want.encode()), etree.fromstring(got.encode())
    first = _compare(want_root, got_root, _step(want_root, None))
    if first is None:
        return None
    lines = list(
        difflib.unified_diff(
            pretty(want), pretty(got), expected_name, actual_name, n=DIFF_CONTEXT, lineterm=""
        )
    )
    if len(lines) > DIFF_MAX_LINES:
        lines = [*lines[:DIFF_MAX_LINES], f"... ({len(lines) - DIFF_MAX_LINES} more diff lines)"]
    return "\n".join([f"first difference at {first}", *lines])


def first_difference(expected: etree._Element, actual: etree._Element) -> str:
    """``path: what differs`` for the first node, in document order, where the trees differ."""
    path = _step(expected, None)
    return _compare(expected, actual, path) or f"{path}: (no difference)"


def _compare(want: etree._Element, got: etree._Element, path: str) -> str | None:
    if want.tag != got.tag:
        return f"{path}: element is {got.tag}, expected {want.tag}"
    for name in sorted({*want.attrib.keys(), *got.attrib.keys()}, key=str):
        w, g = want.get(name), got.get(name)
        if w != g:
            where = f"{path}/@{etree.QName(name).localname}"
            if g is None:
                return f"{where}: attribute missing, expected {w!r}"
            if w is None:
                return f"{where}: unexpected attribute {g!r}"
            return f"{where}: {g!r}, expected {w!r}"
    if (want.text or "") != (got.text or ""):
        return f"{path}/text(): {got.text or ''!r}, expected {want.text or ''!r}"
    want_children, got_children = list(want), list(got)
    for w_child, g_child in zip(want_children, got_children, strict=False):
        found = _compare(w_child, g_child, f"{path}/{_step(w_child, want)}")
        if found is not None:
            return found
        if (w_child.tail or "") != (g_child.tail or ""):
            return f"{path}/text(): {g_child.tail or ''!r}, expected {w_child.tail or ''!r}"
    if len(want_children) > len(got_children):
        missing = want_children[len(got_children)]
        return f"{path}/{_step(missing, want)}: element missing"
    if len(got_children) > len(want_children):
        extra = got_children[len(want_children)]
        return f"{path}/{_step(extra, got)}: unexpected element"
    return None


def _step(element: etree._Element, parent: etree._Element | None) -> str:
    """``Name`` or ``Name[2]`` (local names; the position among same-named siblings)."""
    local = etree.QName(element).localname
    if parent is None:
        return f"/{local}"
    same = [child for child in parent if child.tag == element.tag]
    return local if len(same) == 1 else f"{local}[{same.index(element) + 1}]"


def _without_layout(root: etree._Element) -> etree._Element:
    """A copy without comments, processing instructions and whitespace-only mixed text."""
    copy = etree.fromstring(etree.tostring(root))
    for node in list(copy.iter(etree.Comment, etree.ProcessingInstruction)):
        parent = node.getparent()
        if parent is not None:
            # Keep the text that followed the dropped node.
            _append_text(node, node.tail)
            parent.remove(node)
    for element in copy.iter(etree.Element):
        if len(element) and element.text is not None and not element.text.strip():
            element.text = None
        if element.tail is not None and not element.tail.strip():
            element.tail = None
    return copy


def _append_text(node: etree._Element, text: str | None) -> None:
    if not text:
        return
    previous = node.getprevious()
    if previous is not None:
        previous.tail = (previous.tail or "") + text
    else:
        parent = node.getparent()
        if parent is not None:
            parent.text = (parent.text or "") + text
