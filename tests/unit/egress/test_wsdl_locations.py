"""The WSDL loader reads W3C schemas from the shipped copies and the operator's location map.

Each WSDL is written into a routes folder and loaded by the real WsdlCache (zeep); nothing
here may reach the network (the addresses are never called, the imported URLs would fail).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exchange.egress import WsdlCache
from exchange.egress.wsdl import WsdlRefused
from exchange.errors import ConfigError
from exchange.routing.model import Endpoint, SoapEndpoint
from tests.soap_fakes import TAX_NS, wsdl_text

ADDRESS = "http://127.0.0.1:9/tax"  # never called: only the WSDL is read
XML_LANG = (
    '<xs:element name="Note"><xs:complexType><xs:simpleContent><xs:extension base="xs:string">'
    '<xs:attribute ref="xml:lang"/></xs:extension></xs:simpleContent></xs:complexType>'
    "</xs:element>"
)
REMOTE = "https://schemas.example.invalid/common/2024/common.xsd"


def _endpoint(routes: Path, wsdl: str) -> SoapEndpoint:
    data: dict[str, Any] = {
        "name": "tax",
        "kind": "soap",
        "wsdl": wsdl,
        "service": "TaxService",
        "port": "TaxPort",
        "operation": "Register",
        "format": "tax.TaxpayerRegistration",
    }
    endpoint = Endpoint.model_validate(data, context={"routes_dir": routes})
    assert isinstance(endpoint, SoapEndpoint)
    return endpoint


def _write(routes: Path, schema_import: str) -> SoapEndpoint:
    (routes / "wsdl").mkdir(parents=True, exist_ok=True)
    text = wsdl_text(ADDRESS, schema_import=schema_import)
    (routes / "wsdl" / "svc.wsdl").write_text(text, "utf-8")
    return _endpoint(routes, "wsdl/svc.wsdl")


@pytest.mark.parametrize(
    "schema_import",
    [
        '<xs:import namespace="http://www.w3.org/XML/1998/namespace"/>',
        '<xs:import namespace="http://www.w3.org/XML/1998/namespace" '
        'schemaLocation="http://www.w3.org/2001/xml.xsd"/>',
        '<xs:import namespace="http://www.w3.org/2000/09/xmldsig#" schemaLocation='
        '"http://www.w3.org/TR/xmldsig-core/xmldsig-core-schema.xsd"/>'
        '<xs:element name="Signed" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
        '<xs:complexType><xs:sequence><xs:element ref="ds:Signature"/></xs:sequence>'
        "</xs:complexType></xs:element>",
    ],
    ids=["xml-namespace", "xml-xsd-by-url", "xmldsig-by-url"],
)
def test_a_wsdl_importing_w3c_schemas_loads_offline(tmp_path: Path, schema_import: str) -> None:
    routes = tmp_path / "routes"
    uses_xml = "XML/1998" in schema_import
    endpoint = _write(routes, schema_import + (XML_LANG if uses_xml else ""))
    operation = WsdlCache().operation(endpoint)
    assert operation.body == f"{{{TAX_NS}}}TaxpayerRegistration"


def test_the_operators_map_answers_a_remote_location_from_routes(tmp_path: Path) -> None:
    routes = tmp_path / "routes"
    endpoint = _write(routes, f'<xs:import namespace="urn:common" schemaLocation="{REMOTE}"/>')
    with pytest.raises(ConfigError, match="may import only files inside the routes folder"):
        WsdlCache().operation(endpoint)  # unmapped: refused, never fetched

    (routes / "wsdl" / "vendor").mkdir()
    (routes / "wsdl" / "vendor" / "common.xsd").write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:common">'
        '<xs:element name="Code" type="xs:string"/></xs:schema>',
        "utf-8",
    )
    (routes / "wsdl" / "locations.txt").write_text(
        "# remote location   local copy, relative to routes/\n"
        f"{REMOTE.replace('https://', 'http://')}   wsdl/vendor/common.xsd  # vendor's copy\n",
        "utf-8",
    )
    operation = WsdlCache().operation(endpoint)
    assert operation.body == f"{{{TAX_NS}}}TaxpayerRegistration"


@pytest.mark.parametrize(
    ("line", "refusal"),
    [
        (f"{REMOTE}\n", "expected 'REMOTE-URL LOCAL-FILE'"),
        (f"{REMOTE} ../../etc/passwd\n", "is not a file inside the routes folder"),
        (f"{REMOTE} wsdl/missing.xsd\n", "is not a file inside the routes folder"),
    ],
)
def test_a_bad_map_line_is_refused_naming_it(tmp_path: Path, line: str, refusal: str) -> None:
    routes = tmp_path / "routes"
    endpoint = _write(routes, f'<xs:import namespace="urn:common" schemaLocation="{REMOTE}"/>')
    (routes / "wsdl" / "locations.txt").write_text("# map\n" + line, "utf-8")
    with pytest.raises(WsdlRefused, match=rf"locations.txt:2: .*{refusal}"):
        WsdlCache().operation(endpoint)
