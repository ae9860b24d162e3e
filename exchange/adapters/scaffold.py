"""``exchange adapters new``: a working skeleton of an adapter folder, ready to edit.

The skeleton writes the target type's first valid sample as constants (so it runs and
its output is valid from the first minute), with the source and target namespaces
declared and comments saying what to replace. ``tests/`` is seeded with one golden
case: a valid sample of the source type as input and the skeleton's own output as the
expected document. The developer then replaces constants with values taken from the
source and updates the expected document: the golden case turns red until both agree.
"""

from __future__ import annotations

import difflib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from lxml import etree

from exchange import xml
from exchange.adapters.base import NAME_PATTERN
from exchange.adapters.manifest import MANIFEST
from exchange.adapters.testkit import EXPECTED_SUFFIX, INPUT_SUFFIX, TESTS_FOLDER
from exchange.errors import ConfigError
from exchange.schemas import MessageSchema, SchemaRegistry

SCAFFOLD_KINDS = ("xslt", "python", "mapping")


@dataclass(frozen=True)
class Skeleton:
    """What ``new`` wrote: the folder, its files, and the seeded golden case (if any)."""

    folder: Path
    files: tuple[Path, ...]
    seeded_case: str | None


def new_adapter(
    adapters_dir: Path,
    schemas: SchemaRegistry,
    name: str,
    source: str,
    target: str,
    kind: str = "xslt",
    *,
    translate: Callable[[Path], etree._ElementTree] | None = None,
) -> Skeleton:
    """Write ``adapters_dir/name/``; ConfigError (with "did you mean") if it cannot.

    ``translate`` runs the new adapter on a file (the caller loads it the way the hub
    does); its output on the source sample becomes the seeded expected document.
    """
    if not NAME_PATTERN.match(name):
        raise ConfigError(
            f"adapter name '{name}' is not allowed; use lower-case letters, digits, '.', '_' "
            "and '-', starting with a letter or digit"
        )
    if kind not in SCAFFOLD_KINDS:
        close = difflib.get_close_matches(kind, SCAFFOLD_KINDS, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(f"unknown adapter kind '{kind}'; {hint}use {', '.join(SCAFFOLD_KINDS)}")
    folder = adapters_dir / name
    if folder.exists():
        raise ConfigError(f"{folder} already exists; choose another name or edit that adapter")
    source_schema = schemas.lookup(source)
    target_schema = schemas.lookup(target)

    folder.mkdir(parents=True)
    try:
        return _write(folder, name, kind, source_schema, target_schema, translate)
    except BaseException:
        # Half a skeleton would block the next attempt ("already exists"): remove it.
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _write(
    folder: Path,
    name: str,
    kind: str,
    source_schema: MessageSchema,
    target_schema: MessageSchema,
    translate: Callable[[Path], etree._ElementTree] | None,
) -> Skeleton:
    template = _template(target_schema)
    written = [folder / MANIFEST]
    body_name, body = _BODIES[kind](name, source_schema, target_schema, template)
    (folder / MANIFEST).write_text(
        _manifest(name, kind, source_schema, target_schema, body_name), encoding="utf-8"
    )
    (folder / body_name).write_text(body, encoding="utf-8")
    written.append(folder / body_name)

    samples = source_schema.samples("valid")
    if not samples or translate is None:
        return Skeleton(folder, tuple(written), None)
    tests = folder / TESTS_FOLDER
    tests.mkdir()
    case = samples[0].stem
    (tests / f"{case}{INPUT_SUFFIX}").write_bytes(samples[0].read_bytes())
    produced = translate(tests / f"{case}{INPUT_SUFFIX}").getroot()
    etree.indent(produced, space="  ")
    (tests / f"{case}{EXPECTED_SUFFIX}").write_bytes(
        etree.tostring(produced, encoding="UTF-8", xml_declaration=True) + b"\n"
    )
    written += [tests / f"{case}{INPUT_SUFFIX}", tests / f"{case}{EXPECTED_SUFFIX}"]
    return Skeleton(folder, tuple(written), case)


def _template(target: MessageSchema) -> etree._Element:
    """The target's first valid sample without comments (or its bare root element)."""
    samples = target.samples("valid")
    if not samples:
        return etree.Element(target.qname, nsmap={None: target.namespace})  # type: ignore[dict-item]
    root = xml.parse(samples[0].read_bytes()).getroot()
    for comment in list(root.iter(etree.Comment)):
        parent = comment.getparent()
        if parent is not None:
            parent.remove(comment)
    return root


def _manifest(name: str, kind: str, source: MessageSchema, target: MessageSchema, body: str) -> str:
    key = {"xslt": "stylesheet", "python": "class", "mapping": "mapping"}[kind]
    value = "adapter:Translate" if kind == "python" else body
    return (
        f"name: {name}\n"
        'version: "0.1"\n'
        f"kind: {kind}\n"
        f"source: {source.name}\n"
        f"target: {target.name}\n"
        f"title: {source.name} → {target.name}   # say what it is for, in a few words\n"
        f"{key}: {value}\n"
        "options: {}\n"
    )


def _xslt(
    name: str, source: MessageSchema, target: MessageSchema, template: etree._Element
) -> tuple[str, str]:
    etree.indent(template, space="  ", level=2)
    literal = etree.tostring(template, encoding="unicode")
    return f"{name}.xsl", (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<!-- {source.name} → {target.name}.\n"
        "  The template below writes a sample of the target type as constants; replace each\n"
        '  constant with <xsl:value-of select="normalize-space(src:...)"/> taken from the\n'
        "  source document, then update tests/*.expected.xml. -->\n"
        '<xsl:stylesheet version="1.0"\n'
        '                xmlns:xsl="http://www.w3.org/1999/XSL/Transform"\n'
        f'                xmlns:src="{source.namespace}"\n'
        '                exclude-result-prefixes="src">\n\n'
        '  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>\n\n'
        f'  <xsl:template match="/src:{source.root}">\n'
        f"    {literal.strip()}\n"
        "  </xsl:template>\n\n"
        "</xsl:stylesheet>\n"
    )


def _python(
    name: str, source: MessageSchema, target: MessageSchema, template: etree._Element
) -> tuple[str, str]:
    etree.indent(template, space="  ")
    literal = etree.tostring(template, encoding="unicode")
    return "adapter.py", (
        f'"""{source.name} → {target.name}.\n\n'
        "translate() returns a sample of the target type as constants; build the output from\n"
        "the source document instead (SOURCE and TARGET are the two namespaces), then update\n"
        'tests/*.expected.xml.\n"""\n\n'
        "from __future__ import annotations\n\n"
        "from lxml import etree\n\n"
        "from exchange.adapters import PythonAdapter\n"
        "from exchange.envelope import Envelope\n\n"
        f'SOURCE = "{source.namespace}"\n'
        f'TARGET = "{target.namespace}"\n'
        f"TEMPLATE = {literal.encode('utf-8')!r}\n\n\n"
        "class Translate(PythonAdapter):\n"
        f'    """Turns a {{SOURCE}}{source.root} into a {{TARGET}}{target.root}."""\n\n'
        "    def translate(self, document: etree._ElementTree, envelope: Envelope) -> "
        "etree._ElementTree:\n"
        "        root = etree.fromstring(TEMPLATE)\n"
        "        return etree.ElementTree(root)\n"
    )


def _mapping(
    name: str, source: MessageSchema, target: MessageSchema, template: etree._Element
) -> tuple[str, str]:
    data = {
        "namespaces": {"src": source.namespace},
        "source_root": source.qname,
        "target": _target(template, target),
        "fields": _fields(template, target.namespace),
    }
    head = (
        f"# {source.name} → {target.name}: each field is a sample value of the target type;\n"
        "# replace `value:` with `from: src:<path>` (an XPath over the source), then update\n"
        "# tests/*.expected.xml. Keys: from, value, join, map/default, then, when, required,\n"
        "# for_each, fields (see exchange/adapters/mapping.py).\n"
    )
    return "mapping.yaml", head + yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _target(template: etree._Element, target: MessageSchema) -> dict[str, object]:
    others = {
        prefix: uri
        for element in template.iter(etree.Element)
        for prefix, uri in element.nsmap.items()
        if prefix is not None
    }
    out: dict[str, object] = {"root": target.root, "namespace": target.namespace}
    if others:
        out["namespaces"] = others
    return out


def _fields(element: etree._Element, default_ns: str) -> list[dict[str, object]]:
    fields: list[dict[str, object]] = []
    for name, value in element.attrib.items():
        fields.append({"attribute": str(name), "value": str(value)})
    for child in element.iterchildren(etree.Element):
        qname = etree.QName(child)
        label = (
            qname.localname
            if qname.namespace == default_ns
            else f"{child.prefix}:{qname.localname}"
        )
        if len(child):
            fields.append({"element": label, "fields": _fields(child, default_ns)})
        else:
            text = (child.text or "").strip()
            field: dict[str, object] = {"element": label, "value": text}
            if not text:
                field["required"] = False
            fields.append(field)
    return fields


_BODIES = {"xslt": _xslt, "python": _python, "mapping": _mapping}
