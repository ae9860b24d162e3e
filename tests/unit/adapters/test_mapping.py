"""The declarative mapping kind: the repository translation as a mapping, functions, errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from lxml import etree

from exchange.adapters import AdapterRegistry
from exchange.adapters.base import AdapterSpec
from exchange.adapters.mapping import MappingAdapter, MappingConfig, MappingKind
from exchange.adapters.problems import AdapterConfigError
from exchange.adapters.testkit import run_adapter
from exchange.envelope import Envelope
from exchange.errors import TranslationError
from exchange.schemas import SchemaRegistry

REPO = Path(__file__).resolve().parents[3]
FIXTURE = Path(__file__).parent / "fixtures" / "samr-to-canonical-mapping"
SPEC = AdapterSpec("m", "1.0", "mapping", "a.In", "b.Out")
ENVELOPE = Envelope.new(sender="s", message_type="a.In", message_id="m-1")


def test_samr_to_canonical_as_a_mapping_passes_the_stylesheets_golden_cases() -> None:
    spec = AdapterSpec(
        "samr-to-canonical-mapping",
        "1.0",
        "mapping",
        "samr.EnterpriseRegistration",
        "canonical.LegalEntity",
    )
    adapter = MappingKind().build(spec, MappingConfig(), FIXTURE)
    schemas = SchemaRegistry.load(REPO / "schemas")
    results = list(run_adapter(adapter, schemas, REPO / "adapters" / "samr-to-canonical"))
    assert len([r for r in results if r.kind == "golden"]) == 3
    assert all(r.passed for r in results), "\n".join(r.describe() for r in results)


def build(tmp_path: Path, text: str) -> MappingAdapter:
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    return MappingAdapter(SPEC, path)


HEAD = """\
namespaces: {s: "urn:s"}
target: {root: Out, namespace: "urn:t", namespaces: {x: "urn:x"}}
codelists:
  colours: {r: red, g: green}
fields:
"""

SOURCE = etree.fromstring(
    b'<s:In xmlns:s="urn:s"><s:Day>20240509</s:Day><s:First>Ada</s:First><s:Last>King</s:Last>'
    b"<s:Colour>g</s:Colour><s:Item n='1'>one</s:Item><s:Item n='2'>two</s:Item>"
    b"<s:Phone>0771-1</s:Phone></s:In>"
).getroottree()


def run(tmp_path: Path, fields: str) -> str:
    out = build(tmp_path, HEAD + fields).translate(SOURCE, ENVELOPE)
    return etree.tostring(out, encoding="unicode")


def test_functions_code_lists_groups_and_optional_fields(tmp_path: Path) -> None:
    out = run(
        tmp_path,
        """\
  - {attribute: version, value: "2"}
  - {element: Day, from: "s:Day", then: [{date: {from: "%Y%m%d", to: "%Y-%m-%d"}}]}
  - {element: Name, join: ["s:First", "s:Middle", "s:Last"], separator: " ", then: [upper]}
  - {element: Initial, from: "s:First", then: [lower, {substring: [1, 1]}]}
  - {element: Colour, from: "s:Colour", then: [{lookup: colours}]}
  - {element: Shade, from: "s:Colour", map: {r: warm}, default: cool}
  - {element: Mobile, from: "s:Phone", when: "starts-with(s:Phone, '1')", required: false}
  - {element: Missing, from: "s:Nothing", required: false}
  - element: Items
    fields:
      - element: x:Item
        for_each: "s:Item"
        fields:
          - {attribute: n, from: "@n"}
          - {element: Text, from: "."}
""",
    )
    assert out == (
        '<Out xmlns="urn:t" xmlns:x="urn:x" version="2"><Day>2024-05-09</Day>'
        "<Name>ADA KING</Name><Initial>a</Initial><Colour>green</Colour><Shade>cool</Shade>"
        '<Items><x:Item n="1"><Text>one</Text></x:Item><x:Item n="2"><Text>two</Text></x:Item>'
        "</Items></Out>"
    )


def test_an_empty_value_is_written_empty_unless_the_field_is_optional(tmp_path: Path) -> None:
    # As a stylesheet does: the target type's schema decides whether empty is allowed.
    out = run(
        tmp_path,
        '  - {element: Kept, from: "s:Nothing"}\n'
        '  - {element: Dropped, from: "s:Nothing", required: false}\n'
        '  - {attribute: gone, from: "s:Nothing"}\n',
    )
    assert out == '<Out xmlns="urn:t" xmlns:x="urn:x"><Kept/></Out>'


def test_a_date_of_another_shape_fails_the_translation_naming_the_line(tmp_path: Path) -> None:
    adapter = build(
        tmp_path,
        HEAD + '  - {element: D, from: "s:First", then: [{date: {from: "%Y%m%d", to: "%Y"}}]}\n',
    )
    with pytest.raises(TranslationError, match=r"mapping\.yaml:6: date 'Ada' does not match"):
        adapter.translate(SOURCE, ENVELOPE)


def test_a_code_outside_the_code_list_fails(tmp_path: Path) -> None:
    adapter = build(
        tmp_path, HEAD + '  - {element: C, from: "s:First", then: [{lookup: colours}]}\n'
    )
    with pytest.raises(TranslationError, match="'Ada' is not in code list 'colours'"):
        adapter.translate(SOURCE, ENVELOPE)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ('{element: A, from: "s:B[", }', r"mapping\.yaml:6: from: bad XPath 's:B\['"),
        ('{element: A, from: "q:B"}', r"mapping\.yaml:6: from: bad XPath 'q:B': prefix q is not"),
        ('{element: A, from: "child::q:B"}', r"bad XPath 'child::q:B': prefix q is not"),
        (
            '{element: A, from: "s:B", then: [uper]}',
            r"unknown function 'uper'; did you mean 'upper'",
        ),
        ('{element: y:A, value: "1"}', r"prefix 'y' of 'y:A' is not declared under target"),
        ('{element: A, form: "s:B"}', r"unknown field key 'form'; did you mean 'from'"),
        ('{element: A, from: "s:B", value: "1"}', r"needs exactly one of from:, join:, value:"),
        ('{element: A, from: "s:B", then: [{lookup: sizes}]}', r"code list 'sizes' is not under"),
    ],
)
def test_a_bad_mapping_is_a_config_error_with_file_and_line(
    tmp_path: Path, field: str, message: str
) -> None:
    with pytest.raises(AdapterConfigError, match=message):
        build(tmp_path, HEAD + f"  - {field}\n")


def test_every_problem_of_a_mapping_is_reported_at_once(tmp_path: Path) -> None:
    text = HEAD + '  - {element: A, from: "s:["}\n  - {element: B, then: [nope], value: "1"}\n'
    with pytest.raises(AdapterConfigError) as caught:
        build(tmp_path, text)
    assert len(caught.value.problems) == 2
    assert re.search(r"mapping\.yaml:7: then: unknown function", str(caught.value))


def test_a_mapping_folder_loads_through_the_adapter_registry(tmp_path: Path) -> None:
    folder = tmp_path / "adapters" / "samr-to-canonical-mapping"
    shutil.copytree(FIXTURE, folder)
    registry = AdapterRegistry.load(tmp_path / "adapters", entry_points=False)
    adapter = registry.get("samr-to-canonical-mapping")
    assert isinstance(adapter, MappingAdapter)
    schemas = SchemaRegistry.load(REPO / "schemas")
    results = list(run_adapter(adapter, schemas, REPO / "adapters" / "samr-to-canonical"))
    assert results and all(r.passed for r in results)


def test_a_missing_mapping_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "adapters" / "m"
    folder.mkdir(parents=True)
    (folder / "adapter.yaml").write_text(
        'name: m\nversion: "1"\nkind: mapping\nsource: a.In\ntarget: b.Out\nmapping: mapp.yaml\n',
        encoding="utf-8",
    )
    with pytest.raises(AdapterConfigError, match=r"adapter\.yaml:6: mapping file 'mapp.yaml' does"):
        AdapterRegistry.load(tmp_path / "adapters", entry_points=False)
