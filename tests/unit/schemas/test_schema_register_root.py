"""register_schema: a root from an imported namespace, default names, the compatibility guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.errors import ConfigError
from exchange.schemas import SchemaRegistry, default_name, read_manifest, register_schema
from exchange.schemas.compat import IncompatibleSchema
from exchange.xml import parse

NIEM = Path(__file__).parent / "fixtures" / "niem" / "person-exchange.xsd"
NC = "http://release.niem.gov/niem/niem-core/4.0/"
PERSON = (
    f'<nc:Person xmlns:nc="{NC}"><nc:PersonGivenName>Li</nc:PersonGivenName>'
    "<nc:PersonSurName>Wei</nc:PersonSurName></nc:Person>"
).encode()


@pytest.mark.parametrize("root", ["nc:Person", f"{{{NC}}}Person", "Person"])
def test_a_root_from_an_imported_namespace_becomes_the_message_type(
    tmp_path: Path, root: str
) -> None:
    schema = register_schema(NIEM, tmp_path, root=root)
    assert schema.qname == f"{{{NC}}}Person"
    assert schema.name == "person-exchange.Person"  # named after the exchange, not niem-core
    manifest = read_manifest(schema.folder)
    assert (manifest.namespace, manifest.root) == (NC, "Person")
    assert manifest.namespaces == {"nc": NC}

    loaded = SchemaRegistry.load(tmp_path)
    loaded.compile_all()  # the root check accepts the imported declaration
    found = loaded.for_document(parse(PERSON))
    assert found.validate(parse(PERSON)) == []
    assert found.validate(
        parse(PERSON.replace(b"<nc:PersonGivenName>Li</nc:PersonGivenName>", b""))
    )


def test_without_root_the_own_namespace_element_is_taken(tmp_path: Path) -> None:
    schema = register_schema(NIEM, tmp_path)
    assert schema.root == "PersonAugmentation"


def test_an_unknown_prefix_or_element_is_refused_with_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="prefix 'j', which the schema does not declare"):
        register_schema(NIEM, tmp_path, root="j:Person")
    with pytest.raises(ConfigError, match=r"has no global element 'nc:Persona'.*Person"):
        register_schema(NIEM, tmp_path, root="nc:Persona")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("namespace", "root", "expected"),
    [
        ("urn:oasis:names:specification:ubl:schema:xsd:Order-2", "Order", "ubl.Order"),
        ("http://example.com/xsd", "Person", "example.Person"),
        (
            "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
            "CrossIndustryInvoice",
            "uncefact.CrossIndustryInvoice",
        ),
        ("urn:cn:gov:samr:enterprise-registration:1", "EnterpriseRegistration",
         "samr.EnterpriseRegistration"),
        ("https://www.samr.gov.cn/", "Filing", "samr.Filing"),
        ("http://release.niem.gov/niem/niem-core/4.0/", "Person", "niem-core.Person"),
    ],
)  # fmt: skip
def test_default_names_read_well(namespace: str, root: str, expected: str) -> None:
    assert default_name(namespace, root) == expected


V1 = """<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:test:order"
  elementFormDefault="qualified"><xs:element name="Order"><xs:complexType><xs:sequence>
  <xs:element name="Id" type="xs:string"/>{extra}</xs:sequence></xs:complexType></xs:element>
</xs:schema>"""


def test_a_breaking_version_is_refused_unless_forced(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    (tmp_path / "v1.xsd").write_text(V1.format(extra=""), "utf-8")
    breaking = V1.format(extra='<xs:element name="Total" type="xs:decimal"/>')
    (tmp_path / "v2.xsd").write_text(breaking, "utf-8")
    register_schema(tmp_path / "v1.xsd", schemas, name="test.Order", version="1.0")

    with pytest.raises(IncompatibleSchema) as caught:
        register_schema(tmp_path / "v2.xsd", schemas, name="test.Order", version="2.0")
    assert "Total" in str(caught.value) and "--force" in str(caught.value)
    assert sorted(p.name for p in (schemas / "test.Order").iterdir()) == ["1.0"]

    forced = register_schema(
        tmp_path / "v2.xsd", schemas, name="test.Order", version="2.0", force=True
    )
    assert forced.folder == schemas / "test.Order" / "2.0"
    recorded = read_manifest(forced.folder).accepted_breaks
    assert recorded is not None and recorded["against"] == "1.0" and recorded["breaks"]


def test_a_compatible_version_is_accepted(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    (tmp_path / "v1.xsd").write_text(V1.format(extra=""), "utf-8")
    optional = V1.format(extra='<xs:element name="Note" type="xs:string" minOccurs="0"/>')
    (tmp_path / "v1_1.xsd").write_text(optional, "utf-8")
    register_schema(tmp_path / "v1.xsd", schemas, name="test.Order", version="1.0")
    schema = register_schema(tmp_path / "v1_1.xsd", schemas, name="test.Order", version="1.1")
    assert read_manifest(schema.folder).accepted_breaks is None
