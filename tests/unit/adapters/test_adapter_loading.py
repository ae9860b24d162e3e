"""Loading the fixture hub's adapters of both kinds and translating with them."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from lxml import etree

from exchange.adapters import (
    AdapterRegistry,
    AdapterSpec,
    PythonAdapter,
    XsltAdapter,
    translate_chain,
)
from exchange.envelope import Envelope
from exchange.errors import ConfigError

CANONICAL = "urn:example:canonical:legal-entity:1"
HRSS = "urn:example:hrss:employer:1"


def test_loads_both_kinds_with_their_specs(fixture_adapters: Path) -> None:
    registry = AdapterRegistry.load(fixture_adapters, entry_points=False)

    assert [a.spec.name for a in registry] == ["canonical-to-hrss", "samr-to-canonical"]
    assert len(registry) == 2
    xslt = registry.get("samr-to-canonical")
    assert isinstance(xslt, XsltAdapter)
    assert xslt.spec == AdapterSpec(
        name="samr-to-canonical",
        version="1.0",
        kind="xslt",
        source="samr.Registration",
        target="canonical.LegalEntity",
        title="Registration → legal-entity canonical record",
        options={"jurisdiction": "Haidian"},
    )
    python = registry.get("canonical-to-hrss")
    assert isinstance(python, PythonAdapter)
    assert python.spec.version == "2.1"
    assert registry.origin("canonical-to-hrss").endswith("canonical-to-hrss/adapter.yaml")


def test_xslt_adapter_translates_and_receives_its_options(
    fixture_adapters: Path, samr_document: etree._ElementTree, envelope: Envelope
) -> None:
    adapter = AdapterRegistry.load(fixture_adapters, entry_points=False).get("samr-to-canonical")

    root = adapter.translate(samr_document, envelope).getroot()

    assert root.tag == f"{{{CANONICAL}}}LegalEntity"
    assert root.findtext(f"{{{CANONICAL}}}Id") == "91110000MA01ABCD2X"
    assert root.findtext(f"{{{CANONICAL}}}Established") == "2019-03-01"
    assert root.findtext(f"{{{CANONICAL}}}Jurisdiction") == "Haidian"


def test_xslt_option_is_passed_as_a_string_not_an_expression(
    write_adapter, adapters_dir: Path, envelope: Envelope
) -> None:
    write_adapter(
        "quoted",
        'name: quoted\nversion: "1"\nkind: xslt\nsource: a.In\ntarget: b.Out\n'
        'stylesheet: t.xsl\noptions:\n  label: "it\'s 1 + 1"\n',
        {
            "t.xsl": '<xsl:stylesheet version="1.0" '
            'xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
            '<xsl:param name="label"/>'
            '<xsl:template match="/"><out><xsl:value-of select="$label"/></out></xsl:template>'
            "</xsl:stylesheet>"
        },
    )
    adapter = AdapterRegistry.load(adapters_dir, entry_points=False).get("quoted")

    out = adapter.translate(etree.ElementTree(etree.Element("in")), envelope)

    assert out.getroot().text == "it's 1 + 1"


def test_python_adapter_gets_options_envelope_and_neighbour_modules(
    fixture_adapters: Path, envelope: Envelope
) -> None:
    adapter = AdapterRegistry.load(fixture_adapters, entry_points=False).get("canonical-to-hrss")
    entity = etree.fromstring(
        f'<LegalEntity xmlns="{CANONICAL}"><Id>X1</Id><Name>Acme, Ltd.</Name></LegalEntity>'
    )

    root = adapter.translate(etree.ElementTree(entity), envelope).getroot()

    assert root.tag == f"{{{HRSS}}}EmployerRegistration"
    assert root.findtext(f"{{{HRSS}}}Employer") == "Acme"
    assert root.find(f"{{{HRSS}}}Employer").get("id") == "X1"
    assert root.findtext(f"{{{HRSS}}}Office") == "north"
    assert root.findtext(f"{{{HRSS}}}Reference") == "m-1"


def test_fixture_chain_runs_through_the_canonical_type(
    fixture_adapters: Path, samr_document: etree._ElementTree, envelope: Envelope
) -> None:
    registry = AdapterRegistry.load(fixture_adapters, entry_points=False)

    chain = registry.chain("samr.Registration", "hrss.EmployerRegistration")
    root = translate_chain(chain, samr_document, envelope).getroot()

    assert [a.spec.name for a in chain] == ["samr-to-canonical", "canonical-to-hrss"]
    assert root.findtext(f"{{{HRSS}}}Employer") == "Example Technology Co."
    assert root.find(f"{{{HRSS}}}Employer").get("id") == "91110000MA01ABCD2X"


def test_reloading_picks_up_edited_python_code(write_adapter, adapters_dir: Path) -> None:
    manifest = (
        'name: edit-me\nversion: "1"\nkind: python\nsource: a.In\ntarget: b.Out\n'
        "class: adapter:Edit\n"
    )
    code = (
        "from lxml import etree\nfrom exchange.adapters import PythonAdapter\n"
        "class Edit(PythonAdapter):\n"
        "    def translate(self, document, envelope):\n"
        "        return etree.ElementTree(etree.Element('{tag}'))\n"
    )
    folder = write_adapter("edit-me", manifest, {"adapter.py": code.format(tag="first")})
    first = AdapterRegistry.load(adapters_dir, entry_points=False).get("edit-me")
    (folder / "adapter.py").write_text(code.format(tag="second_version"), encoding="utf-8")
    second = AdapterRegistry.load(adapters_dir, entry_points=False).get("edit-me")
    doc = etree.ElementTree(etree.Element("x"))
    envelope = Envelope.new(sender="s", message_type="a.In")

    assert first.translate(doc, envelope).getroot().tag == "first"
    assert second.translate(doc, envelope).getroot().tag == "second_version"


def test_get_unknown_name_suggests_close_names(fixture_adapters: Path) -> None:
    registry = AdapterRegistry.load(fixture_adapters, entry_points=False)

    with pytest.raises(ConfigError) as caught:
        registry.get("samr-to-canonicl")

    message = str(caught.value)
    assert "unknown adapter 'samr-to-canonicl'" in message
    assert "did you mean 'samr-to-canonical'?" in message
    assert "known adapters: canonical-to-hrss, samr-to-canonical" in message


def test_empty_or_missing_folder_gives_an_empty_registry(tmp_path: Path) -> None:
    registry = AdapterRegistry.load(tmp_path / "nowhere", entry_points=False)

    assert len(registry) == 0
    with pytest.raises(ConfigError, match="no adapters are loaded"):
        registry.get("x")


def test_xslt_adapter_can_be_shared_between_threads(
    fixture_adapters: Path, samr_document: etree._ElementTree, envelope: Envelope
) -> None:
    adapter = AdapterRegistry.load(fixture_adapters, entry_points=False).get("samr-to-canonical")
    results: list[str | None] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(200):
            text = (
                adapter.translate(samr_document, envelope)
                .getroot()
                .findtext(f"{{{CANONICAL}}}Name")
            )
            with lock:
                results.append(text)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == ["Example Technology Co., Ltd."] * 800
