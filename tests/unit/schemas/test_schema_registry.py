"""Loading a schema set, looking types up, and validating documents (XSD, then rules)."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from exchange.errors import ConfigError, UnknownMessageType
from exchange.schemas import MessageSchema, SchemaRegistry
from exchange.xml import parse

FIXTURES = Path(__file__).parent / "fixtures"

SAMR = "urn:cn:gov:samr:enterprise-registration:1"
SAMR_QNAME = f"{{{SAMR}}}EnterpriseRegistration"
CREDIT_CODE_PATH = "/samr:EnterpriseRegistration/samr:Enterprise/samr:CreditCode"


def _registration(credit_code: str, *, submitted: str = "2024-03-01", name: str = "A") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<samr:EnterpriseRegistration xmlns:samr="{SAMR}" submitted="{submitted}">
  <samr:Enterprise>
    <samr:Name>{name}</samr:Name>
    <samr:CreditCode>{credit_code}</samr:CreditCode>
    <samr:Division>350100</samr:Division>
  </samr:Enterprise>
</samr:EnterpriseRegistration>
""".encode()


# -- loading and lookup ----------------------------------------------------------------------


def test_loads_every_manifest(registry: SchemaRegistry) -> None:
    assert len(registry) == 3
    assert [(s.name, s.version) for s in registry] == [
        ("mps.ResidentRecord", "1.0"),
        ("samr.EnterpriseRegistration", "1.2"),
        ("samr.EnterpriseRegistration", "1.10"),
    ]


def test_lookup_by_name_gives_the_numerically_newest_version(registry: SchemaRegistry) -> None:
    schema = registry.lookup("samr.EnterpriseRegistration")
    assert schema.version == "1.10"
    assert schema.qname == SAMR_QNAME
    assert schema.title == "Enterprise registration (企业设立登记)"


def test_lookup_by_version_and_by_qname(registry: SchemaRegistry) -> None:
    assert registry.lookup("samr.EnterpriseRegistration", "1.2").version == "1.2"
    assert registry.lookup("samr.EnterpriseRegistration", "1.2.0").version == "1.2"
    assert registry.lookup(SAMR_QNAME).version == "1.10"
    assert registry.lookup(SAMR_QNAME, "1.2").folder.name == "1.2"
    assert "samr.EnterpriseRegistration" in registry
    assert SAMR_QNAME in registry


def test_unknown_type_suggests_the_closest_name(registry: SchemaRegistry) -> None:
    with pytest.raises(UnknownMessageType) as caught:
        registry.lookup("samr.EnterpriseRegistraton")
    detail = caught.value.detail
    assert "did you mean 'samr.EnterpriseRegistration'?" in detail
    assert "mps.ResidentRecord" in detail
    assert caught.value.status == 422


def test_unknown_version_lists_the_known_ones(registry: SchemaRegistry) -> None:
    with pytest.raises(UnknownMessageType, match=r"no version '2.0'; known versions: 1.2, 1.10"):
        registry.lookup("samr.EnterpriseRegistration", "2.0")


def test_for_document_finds_the_schema_by_root_qname(registry: SchemaRegistry) -> None:
    tree = parse(_registration("91350100M000100Y43"))
    assert registry.for_document(tree).version == "1.10"
    assert registry.for_document(tree, "1.2").version == "1.2"
    assert registry.for_document(tree.getroot()).qname == SAMR_QNAME


def test_for_document_refuses_an_unknown_root(registry: SchemaRegistry) -> None:
    tree = parse(b'<EnterpriseRegistration xmlns="urn:other"/>')
    with pytest.raises(UnknownMessageType, match=r"\{urn:other\}EnterpriseRegistration"):
        registry.for_document(tree)


def test_registries_are_independent() -> None:
    assert len(SchemaRegistry()) == 0
    assert list(SchemaRegistry()) == []


# -- validation ------------------------------------------------------------------------------


def test_samples_validate_as_labelled(registry: SchemaRegistry) -> None:
    schema = registry.lookup("samr.EnterpriseRegistration", "1.2")
    assert [p.name for p in schema.samples("valid")] == ["one-enterprise.xml"]
    for sample in schema.samples("valid"):
        assert schema.validate(parse(sample.read_bytes())) == []
    for sample in schema.samples("invalid"):
        assert schema.validate(parse(sample.read_bytes())) != []


def test_every_xsd_error_has_line_path_and_rule(registry: SchemaRegistry) -> None:
    schema = registry.lookup("samr.EnterpriseRegistration")
    document = _registration("91350100M000100Y43", submitted="yesterday", name="")
    problems = schema.validate(parse(document))
    assert [(p.line, p.path, p.rule) for p in problems] == [
        (2, "/samr:EnterpriseRegistration", "xsd"),
        (4, "/samr:EnterpriseRegistration/samr:Enterprise/samr:Name", "xsd"),
    ]
    assert "submitted" in problems[0].message and "yesterday" in problems[0].message
    assert "minLength" in problems[1].message


def test_business_rules_run_only_after_the_xsd_passes(registry: SchemaRegistry) -> None:
    schema = registry.lookup("samr.EnterpriseRegistration")
    wrong_check = "91350100M000100Y44"
    assert {p.rule for p in schema.validate(parse(_registration(wrong_check)))} == {"uscc"}
    both = schema.validate(parse(_registration(wrong_check, submitted="yesterday")))
    assert {p.rule for p in both} == {"xsd"}


def test_rule_failure_reports_line_path_and_rule(registry: SchemaRegistry) -> None:
    schema = registry.lookup("samr.EnterpriseRegistration")
    problems = schema.validate(parse(_registration("91350100M000100Y44")))
    assert len(problems) == 1
    problem = problems[0]
    assert (problem.line, problem.path, problem.rule) == (5, CREDIT_CODE_PATH, "uscc")
    assert "expected '3'" in problem.message


RESIDENTS = b"""<ResidentRecord xmlns="urn:cn:gov:mps:resident:1">
  <Person idNumber="11010519491231002X"><Name xml:lang="zh">Li Lei</Name>
    <Household>110105</Household></Person>
  <Person idNumber="110105194912310021"><Name>Han 2</Name>
    <Household>990105</Household></Person>
</ResidentRecord>"""


def test_attribute_python_and_builtin_rules_in_document_order(registry: SchemaRegistry) -> None:
    schema = registry.lookup("mps.ResidentRecord")
    problems = schema.validate(parse(RESIDENTS))
    assert [(p.line, p.path, p.rule) for p in problems] == [
        (4, "/*/*[2]/@idNumber", "resident-id"),
        (4, "/*/*[2]/*[1]", "python:rules.py:name_has_no_digits"),
        (5, "/*/*[2]/*[2]", "division-code"),
    ]
    assert "contains digits" in problems[1].message


def test_xml_namespace_import_without_location_validates_xml_lang(
    registry: SchemaRegistry,
) -> None:
    schema = registry.lookup("mps.ResidentRecord")
    bad = RESIDENTS.replace(b'xml:lang="zh"', b'xml:lang="not a language"')
    problems = schema.validate(parse(bad))
    assert [(p.line, p.rule) for p in problems] == [(2, "xsd")]
    assert "lang" in problems[0].message


def test_xsd_1_1_schemas_validate_with_xmlschema() -> None:
    schema = SchemaRegistry.load(FIXTURES / "xsd11").lookup("test.Range")
    ok = (
        b'<Range xmlns="urn:test:range">'
        b"<Low>1</Low><High>2</High><Division>110000</Division></Range>"
    )
    assert schema.validate(parse(ok)) == []
    reversed_range = ok.replace(b"<Low>1", b"<Low>3")
    problems = schema.validate(parse(reversed_range))
    assert [(p.line, p.path, p.rule) for p in problems] == [(1, "/*", "xsd")]
    assert "Low le High" in problems[0].message
    bad_division = ok.replace(b"110000", b"990000")
    assert [p.rule for p in schema.validate(parse(bad_division))] == ["division-code"]


# -- refusing broken schema sets -------------------------------------------------------------


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; create it"):
        SchemaRegistry.load(tmp_path / "nowhere")


def test_refuses_an_unknown_rule_with_a_hint(schema_set: Path) -> None:
    manifest = schema_set / "samr.EnterpriseRegistration" / "1.2" / "manifest.yaml"
    _edit(manifest, "rule: uscc", "rule: usc")
    with pytest.raises(ConfigError) as caught:
        SchemaRegistry.load(schema_set)
    assert str(manifest) in str(caught.value)
    assert "did you mean 'uscc'?" in str(caught.value)


def test_refuses_a_rule_path_with_an_undeclared_prefix(schema_set: Path) -> None:
    manifest = schema_set / "samr.EnterpriseRegistration" / "1.2" / "manifest.yaml"
    _edit(manifest, "samr:CreditCode", "nope:CreditCode")
    with pytest.raises(ConfigError, match=r"cannot be evaluated .*Undefined namespace prefix"):
        SchemaRegistry.load(schema_set)


def test_refuses_a_rule_path_that_is_not_xpath(schema_set: Path) -> None:
    manifest = schema_set / "samr.EnterpriseRegistration" / "1.2" / "manifest.yaml"
    _edit(manifest, "/samr:Enterprise/samr:CreditCode", "/samr:Enterprise/[samr:CreditCode")
    with pytest.raises(ConfigError, match=r"is not valid XPath 1\.0"):
        SchemaRegistry.load(schema_set)


def test_refuses_a_python_rule_that_does_not_exist(schema_set: Path) -> None:
    manifest = schema_set / "mps.ResidentRecord" / "1.0" / "manifest.yaml"
    _edit(manifest, "name_has_no_digits", "name_is_fine")
    with pytest.raises(ConfigError, match="has no function 'name_is_fine'"):
        SchemaRegistry.load(schema_set)


def test_refuses_a_python_rule_outside_the_folder(schema_set: Path) -> None:
    manifest = schema_set / "mps.ResidentRecord" / "1.0" / "manifest.yaml"
    _edit(manifest, "python:rules.py:", "python:../../rules.py:")
    with pytest.raises(ConfigError, match=r"must name a \.py file inside"):
        SchemaRegistry.load(schema_set)


def test_a_python_rule_that_raises_is_a_config_error(schema_set: Path) -> None:
    rules = schema_set / "mps.ResidentRecord" / "1.0" / "rules.py"
    _edit(rules, "if any(", "if 1 / 0 and any(")
    schema = SchemaRegistry.load(schema_set).lookup("mps.ResidentRecord")
    with pytest.raises(ConfigError, match="raised ZeroDivisionError"):
        schema.validate(parse(RESIDENTS))


def test_refuses_a_manifest_in_the_wrong_folder(schema_set: Path) -> None:
    shutil.move(
        schema_set / "samr.EnterpriseRegistration" / "1.10",
        schema_set / "samr.EnterpriseRegistration" / "1.11",
    )
    with pytest.raises(ConfigError, match=r"says samr.EnterpriseRegistration 1.10 but lives in"):
        SchemaRegistry.load(schema_set)


def test_refuses_a_root_the_xsd_does_not_declare(schema_set: Path) -> None:
    manifest = schema_set / "samr.EnterpriseRegistration" / "1.2" / "manifest.yaml"
    _edit(manifest, "root: EnterpriseRegistration", "root: Registration")
    with pytest.raises(
        ConfigError, match=r"declares \{urn:cn:gov:samr:enterprise-registration:1\}"
    ):
        SchemaRegistry.load(schema_set).compile_all()


def test_refuses_a_schema_that_does_not_compile(schema_set: Path) -> None:
    common = schema_set / "samr.EnterpriseRegistration" / "1.2" / "types" / "common.xsd"
    _edit(common, 'name="NameType"', 'name="NameTypo"')
    with pytest.raises(ConfigError) as caught:
        SchemaRegistry.load(schema_set).compile_all()
    message = str(caught.value)
    assert "enterprise-registration.xsd" in message
    assert "NameType" in message and "fix the schema" in message


def test_refuses_a_schema_that_imports_from_the_network(schema_set: Path) -> None:
    xsd = schema_set / "samr.EnterpriseRegistration" / "1.2" / "enterprise-registration.xsd"
    _edit(
        xsd,
        '<xs:include schemaLocation="types/common.xsd"/>',
        '<xs:include schemaLocation="types/common.xsd"/>\n'
        '  <xs:import namespace="urn:x" schemaLocation="http://example.invalid/x.xsd"/>',
    )
    with pytest.raises(ConfigError, match=r"refers to http://example.invalid/x.xsd, which would"):
        SchemaRegistry.load(schema_set).compile_all()


def test_schemas_are_equal_by_identity_fields(registry: SchemaRegistry) -> None:
    schema = registry.lookup("mps.ResidentRecord")
    assert isinstance(schema, MessageSchema)
    assert schema == registry.lookup("{urn:cn:gov:mps:resident:1}ResidentRecord")
    assert "xsd_check" not in repr(schema)


def test_validation_from_several_threads_keeps_errors_apart(registry: SchemaRegistry) -> None:
    schema = registry.lookup("samr.EnterpriseRegistration")
    valid = parse(_registration("91350100M000100Y43"))
    invalid = parse(_registration("91350100M000100Y43", submitted="yesterday"))

    def run(index: int) -> bool:
        tree = valid if index % 2 else invalid
        expected = 0 if index % 2 else 1
        return all(len(schema.validate(tree)) == expected for _ in range(200))

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(run, range(8)))
