"""Schemas compile offline: W3C imports come from the shipped copies, nothing from the network."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from lxml import etree

from exchange.errors import ConfigError
from exchange.schemas import catalog
from exchange.schemas.compiler import compile_lxml, compile_xmlschema

FIXTURES = Path(__file__).parent / "fixtures" / "w3c"
COMPILERS: list[Callable[[Path, Path], Any]] = [compile_lxml, compile_xmlschema]

SIGNATURE = """<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
    <ds:SignedInfo>
      <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
      <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
      <ds:Reference URI="">
        <ds:Transforms>
          <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
        </ds:Transforms>
        <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
        <ds:DigestValue>AAAA</ds:DigestValue>
      </ds:Reference>
    </ds:SignedInfo>
    <ds:SignatureValue>AAAA</ds:SignatureValue>
    <ds:KeyInfo><ds:X509Data><ds:X509Certificate>AAAA</ds:X509Certificate></ds:X509Data>
    </ds:KeyInfo>
  </ds:Signature>"""


def _doc(text: str) -> etree._ElementTree:
    return etree.ElementTree(etree.fromstring(text.encode()))


def _lxml_valid(xsd: Path, text: str) -> bool:
    return bool(compile_lxml(xsd, xsd.parent).validate(_doc(text)))


@pytest.mark.parametrize("name", ["xml.xsd", "xmldsig-core-schema.xsd"])
def test_shipped_schemas_are_strictly_valid_and_have_no_doctype(name: str) -> None:
    path = catalog.W3C_DIR / name
    assert b"<!DOCTYPE" not in path.read_bytes()
    xmlschema.XMLSchema10(str(path))  # raises if the copy breaks XSD's own rules
    etree.XMLSchema(etree.parse(str(path)))


def test_shipped_xml_schema_declares_the_whole_namespace() -> None:
    schema = xmlschema.XMLSchema10(str(catalog.W3C_DIR / "xml.xsd"))
    assert schema.target_namespace == "http://www.w3.org/XML/1998/namespace"
    assert set(schema.attributes) == {"lang", "space", "base", "id"}
    assert set(schema.attribute_groups) == {"specialAttrs"}


def test_shipped_xmldsig_schema_declares_the_core_elements() -> None:
    schema = xmlschema.XMLSchema10(str(catalog.W3C_DIR / "xmldsig-core-schema.xsd"))
    assert schema.target_namespace == "http://www.w3.org/2000/09/xmldsig#"
    expected = {
        "Signature", "SignatureValue", "SignedInfo", "CanonicalizationMethod",
        "SignatureMethod", "Reference", "Transforms", "Transform", "DigestMethod",
        "DigestValue", "KeyInfo", "KeyName", "MgmtData", "KeyValue", "RetrievalMethod",
        "X509Data", "PGPData", "SPKIData", "Object", "Manifest", "SignatureProperties",
        "SignatureProperty", "DSAKeyValue", "RSAKeyValue",
    }  # fmt: skip
    assert set(schema.elements) == expected


def test_catalogue_answers_namespaces_and_absolute_urls() -> None:
    xml_xsd = catalog.W3C_DIR / "xml.xsd"
    dsig_xsd = catalog.W3C_DIR / "xmldsig-core-schema.xsd"
    assert catalog.namespace_copy("http://www.w3.org/XML/1998/namespace") == xml_xsd
    assert catalog.local_copy("http://www.w3.org/2001/xml.xsd") == xml_xsd
    assert catalog.local_copy("https://www.w3.org/2001/xml.xsd") == xml_xsd
    assert catalog.local_copy("http://www.w3.org/XML/1998/namespace") == xml_xsd
    assert catalog.local_copy("http://www.w3.org/2000/09/xmldsig#") == dsig_xsd
    assert (
        catalog.local_copy("http://www.w3.org/TR/xmldsig-core/xmldsig-core-schema.xsd") == dsig_xsd
    )
    assert catalog.local_copy("http://example.org/x.xsd") is None


@pytest.mark.parametrize("compile_schema", COMPILERS)
@pytest.mark.parametrize("xsd", ["xml-lang.xsd", "dsig-url.xsd", "include/main.xsd"])
def test_compiles_offline(compile_schema: Callable[[Path, Path], Any], xsd: str) -> None:
    path = FIXTURES / xsd
    assert compile_schema(path, path.parent) is not None


def test_xml_namespace_import_without_location_checks_xml_attributes() -> None:
    xsd = FIXTURES / "xml-lang.xsd"
    assert _lxml_valid(xsd, '<Note xmlns="urn:test:lang" xml:lang="zh-CN" xml:space="preserve"/>')
    assert not _lxml_valid(xsd, '<Note xmlns="urn:test:lang" xml:space="sometimes"/>')


def test_xmldsig_imported_by_url_checks_signatures() -> None:
    xsd = FIXTURES / "dsig-url.xsd"
    signed = f'<Signed xmlns="urn:test:signed"><Body>b</Body>{SIGNATURE}</Signed>'
    assert _lxml_valid(xsd, signed)
    unsigned_info = signed.replace("ds:SignedInfo>", "ds:Unsigned>")
    assert not _lxml_valid(xsd, unsigned_info)


def test_xmldsig_imported_by_https_url_compiles(tmp_path: Path) -> None:
    text = (FIXTURES / "dsig-url.xsd").read_text(encoding="utf-8")
    xsd = tmp_path / "https.xsd"
    xsd.write_text(text.replace("http://www.w3.org/TR/", "https://www.w3.org/TR/"), "utf-8")
    compile_lxml(xsd, tmp_path)


def test_relative_include_is_read_from_the_folder() -> None:
    xsd = FIXTURES / "include" / "main.xsd"
    assert _lxml_valid(xsd, '<Coded xmlns="urn:test:include">ABC</Coded>')
    assert not _lxml_valid(xsd, '<Coded xmlns="urn:test:include">abcd</Coded>')


@pytest.mark.parametrize("compile_schema", COMPILERS)
def test_refuses_a_remote_location(compile_schema: Callable[[Path, Path], Any]) -> None:
    xsd = FIXTURES / "remote.xsd"
    with pytest.raises(ConfigError) as caught:
        compile_schema(xsd, xsd.parent)
    message = str(caught.value)
    assert "http://example.invalid/x.xsd" in message
    assert "offline" in message and "copy that schema into" in message
    assert str(xsd) in message


@pytest.mark.parametrize("compile_schema", COMPILERS)
def test_refuses_a_file_outside_the_folder(compile_schema: Callable[[Path, Path], Any]) -> None:
    xsd = FIXTURES / "include" / "outside.xsd"
    with pytest.raises(ConfigError, match="outside the schema folder"):
        compile_schema(xsd, xsd.parent)


@pytest.mark.parametrize("compile_schema", COMPILERS)
def test_refuses_a_missing_import(compile_schema: Callable[[Path, Path], Any]) -> None:
    xsd = FIXTURES / "missing.xsd"
    with pytest.raises(ConfigError, match=r"gone\.xsd, which does not exist"):
        compile_schema(xsd, xsd.parent)


@pytest.mark.parametrize("compile_schema", COMPILERS)
def test_dublin_cores_dated_xml_xsd_location_is_answered_locally(
    compile_schema: Callable[[Path, Path], Any],
) -> None:
    xsd = FIXTURES / "dublin-core-style.xsd"
    assert catalog.local_copy("https://www.w3.org/2001/03/xml.xsd") == catalog.W3C_DIR / "xml.xsd"
    compile_schema(xsd, xsd.parent)  # offline: a network fetch would be refused
    assert _lxml_valid(xsd, '<t:title xmlns:t="urn:test:dc" xml:lang="zh">标题</t:title>')
