"""SoapEgress against a real SOAP service (the demo tax bureau's spyne app) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from lxml import etree

from exchange.egress import (
    EndpointMisconfigured,
    EndpointRejected,
    EndpointUnavailable,
    Outbound,
    SoapEgress,
    WsdlCache,
)
from exchange.egress.soap_envelope import HUB_HEADER_NS
from exchange.envelope import Envelope
from exchange.errors import ConfigError
from exchange.routing import lint
from exchange.routing.loader import load_files
from exchange.routing.model import Endpoint, SoapEndpoint
from tests.harness import REPO, free_port
from tests.soap_fakes import SOAP11, SOAP12, TAX_NS, SoapDepartment, fault_11, fault_12, wsdl_text

TAX_SAMPLE = next((REPO / "schemas" / "tax.TaxpayerRegistration").glob("*/samples/valid/*.xml"))
DOCUMENT = TAX_SAMPLE.read_bytes()
ROOT_BYTES = DOCUMENT[DOCUMENT.index(b"<TaxpayerRegistration") :].rstrip()
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"


@pytest.fixture(scope="module")
def dept() -> Iterator[SoapDepartment]:
    department = SoapDepartment().start()
    yield department
    department.stop()


@pytest.fixture(autouse=True)
def _fresh(dept: SoapDepartment) -> None:
    dept.reset()


@pytest.fixture
async def egress() -> AsyncIterator[SoapEgress]:
    soap = SoapEgress(environ={"TAX_USER": "hub", "TAX_PASSWORD": "s3cret"})
    await soap.start()
    yield soap
    await soap.close()


@pytest.fixture
def routes(tmp_path: Path, dept: SoapDepartment) -> Path:
    folder = tmp_path / "routes"
    (folder / "wsdl").mkdir(parents=True)
    (folder / "wsdl" / "tax.wsdl").write_bytes(dept.wsdl())
    return folder


def soap_endpoint(routes: Path, **fields: Any) -> SoapEndpoint:
    data = {
        "name": "tax-bureau",
        "kind": "soap",
        "wsdl": "wsdl/tax.wsdl",
        "service": "TaxBureau",
        "port": "TaxBureau",
        "operation": "RegisterTaxpayer",
        "format": "tax.TaxpayerRegistration",
        "timeout": 5,
        **fields,
    }
    endpoint = Endpoint.model_validate(data, context={"routes_dir": routes})
    assert isinstance(endpoint, SoapEndpoint)
    return endpoint


def outbound(endpoint: Endpoint, payload: bytes = DOCUMENT, attempt: int = 1) -> Outbound:
    envelope = Envelope.new(sender="samr-reg", message_type="tax.TaxpayerRegistration")
    return Outbound(envelope=envelope, endpoint=endpoint, payload=payload, attempt=attempt)


def body_element(request: bytes) -> etree._Element:
    envelope = etree.fromstring(request)
    ns = etree.QName(envelope).namespace
    return envelope.find(f"{{{ns}}}Body")[0]


# --- success --------------------------------------------------------------------------------


async def test_the_document_arrives_byte_identical_as_the_body_element(
    egress: SoapEgress, dept: SoapDepartment, routes: Path
) -> None:
    sent = outbound(soap_endpoint(routes), attempt=2)
    receipt = await egress.send(sent)
    assert receipt.status == 200
    assert receipt.detail == f"200 OK: SOAP {{{TAX_NS}}}RegistrationAcknowledgement"
    [request] = dept.received
    body = request.body
    # The exact bytes of the document's root element sit inside soap:Body.
    assert body.count(ROOT_BYTES) == 1
    assert body[body.index(ROOT_BYTES) + len(ROOT_BYTES) :].startswith(b"</soap-env:Body>")
    assert body_element(body).tag == f"{{{TAX_NS}}}TaxpayerRegistration"
    headers = request.headers
    assert headers["content-type"] == "text/xml; charset=utf-8"
    assert headers["soapaction"] == '"RegisterTaxpayer"'
    assert headers["x-exchange-id"] == sent.envelope.id
    assert headers["x-exchange-message-id"] == sent.envelope.message_id
    assert headers["x-exchange-attempt"] == "2"
    hub = etree.fromstring(body).find(f"{{{SOAP11}}}Header/{{{HUB_HEADER_NS}}}Exchange")
    assert hub is not None
    assert hub.findtext(f"{{{HUB_HEADER_NS}}}Id") == sent.envelope.id
    assert hub.findtext(f"{{{HUB_HEADER_NS}}}Attempt") == "2"
    assert etree.fromstring(body).find(f".//{{{WSSE}}}Security") is None


async def test_ws_security_username_token_from_the_environment(
    egress: SoapEgress, dept: SoapDepartment, routes: Path
) -> None:
    endpoint = soap_endpoint(routes, username="${TAX_USER}", password="${TAX_PASSWORD}")
    await egress.send(outbound(endpoint))
    security = etree.fromstring(dept.received[0].body).find(
        f"{{{SOAP11}}}Header/{{{WSSE}}}Security"
    )
    assert security is not None
    assert security.findtext(f"{{{WSSE}}}UsernameToken/{{{WSSE}}}Username") == "hub"
    assert security.findtext(f"{{{WSSE}}}UsernameToken/{{{WSSE}}}Password") == "s3cret"


async def test_a_missing_credential_variable_is_a_misconfiguration(
    egress: SoapEgress, dept: SoapDepartment, routes: Path
) -> None:
    endpoint = soap_endpoint(routes, username="hub", password="${NO_SUCH_SOAP_SECRET}")
    with pytest.raises(EndpointMisconfigured, match="password needs environment variable"):
        await egress.send(outbound(endpoint))
    assert dept.received == []


async def test_a_non_utf8_document_is_sent_as_the_same_element_in_utf8(
    egress: SoapEgress, dept: SoapDepartment, routes: Path
) -> None:
    text = DOCUMENT.decode("utf-8").replace('encoding="UTF-8"', 'encoding="GB18030"')
    await egress.send(outbound(soap_endpoint(routes), text.encode("gb18030")))
    received = body_element(dept.received[0].body)
    expected = etree.fromstring(DOCUMENT)
    c14n = {"method": "c14n", "exclusive": True}
    assert etree.tostring(received, **c14n) == etree.tostring(expected, **c14n)


async def test_wsdl_is_loaded_once_for_many_deliveries(
    egress: SoapEgress, dept: SoapDepartment, routes: Path
) -> None:
    endpoint = soap_endpoint(routes)
    await asyncio.gather(*(egress.send(outbound(endpoint)) for _ in range(5)))
    await egress.send(outbound(soap_endpoint(routes)))  # an equal endpoint, loaded again
    assert egress.wsdls.loads == 1
    assert len(dept.received) == 6


async def test_address_overrides_the_wsdls_soap_address(
    egress: SoapEgress, dept: SoapDepartment, routes: Path
) -> None:
    (routes / "wsdl" / "tax.wsdl").write_bytes(
        dept.wsdl().replace(dept.url.encode(), b"http://127.0.0.1:9/nowhere")
    )
    await egress.send(outbound(soap_endpoint(routes, address=dept.url)))
    assert len(dept.received) == 1


# --- faults and failures --------------------------------------------------------------------


async def test_a_server_fault_is_retriable(
    egress: SoapEgress, dept: SoapDepartment, routes: Path
) -> None:
    dept.behaviour = lambda n: fault_11("Server", "database is down", "try later")
    with pytest.raises(EndpointUnavailable) as caught:
        await egress.send(outbound(soap_endpoint(routes)))
    error = caught.value
    assert error.retriable and error.status == 500
    assert "SOAP 1.1 fault s:Server: database is down; detail: try later" in error.detail


async def test_a_client_fault_is_not_retriable_and_says_why(
    egress: SoapEgress, dept: SoapDepartment, routes: Path
) -> None:
    dept.behaviour = lambda n: fault_11(
        "Client.Validation", "TaxAuthority code unknown", "code 14502050000 is not ours"
    )
    with pytest.raises(EndpointRejected) as caught:
        await egress.send(outbound(soap_endpoint(routes)))
    error = caught.value
    assert not error.retriable
    assert "fault s:Client.Validation: TaxAuthority code unknown" in error.detail
    assert "detail: code 14502050000 is not ours" in error.detail
    assert "replay" in error.detail


async def test_the_demo_service_refuses_a_registration_without_its_number(
    egress: SoapEgress, dept: SoapDepartment, routes: Path
) -> None:
    broken = DOCUMENT.replace(b"91450205MA5PBX6H60", b"")
    with pytest.raises(EndpointRejected, match="has no TaxpayerIdentificationNumber"):
        await egress.send(outbound(soap_endpoint(routes), broken))


@pytest.mark.parametrize(
    ("code", "retriable"), [("Receiver", True), ("Sender", False), ("MustUnderstand", False)]
)
async def test_soap_12_faults(
    egress: SoapEgress, dept: SoapDepartment, routes: Path, code: str, retriable: bool
) -> None:
    (routes / "wsdl" / "tax12.wsdl").write_text(wsdl_text(dept.url, version="1.2"), "utf-8")
    endpoint = soap_endpoint(
        routes, wsdl="wsdl/tax12.wsdl", service="TaxService", port="TaxPort", operation="Register"
    )
    dept.behaviour = lambda n: fault_12(code, "it went wrong", "because", subcode="Detailed")
    with pytest.raises(EndpointRejected if not retriable else EndpointUnavailable) as caught:
        await egress.send(outbound(endpoint))
    assert caught.value.retriable is retriable
    assert f"SOAP 1.2 fault e:{code} / t:Detailed: it went wrong; detail: because" in str(
        caught.value
    )
    headers = dept.received[0].headers
    assert (
        headers["content-type"] == 'application/soap+xml; charset=utf-8; action="urn:tax:Register"'
    )
    assert etree.QName(etree.fromstring(dept.received[0].body)).namespace == SOAP12


async def test_http_500_without_an_envelope_is_retriable(
    egress: SoapEgress, dept: SoapDepartment, routes: Path
) -> None:
    dept.behaviour = lambda n: web.Response(status=500, text="<html>oops</html>")
    with pytest.raises(
        EndpointUnavailable, match=r"500 Internal Server Error.*without a SOAP fault"
    ):
        await egress.send(outbound(soap_endpoint(routes)))


async def test_a_200_that_is_not_an_envelope_is_rejected_saying_what_it_was(
    egress: SoapEgress, dept: SoapDepartment, routes: Path
) -> None:
    dept.behaviour = lambda n: web.Response(status=200, text="<html>welcome</html>")
    with pytest.raises(EndpointRejected) as caught:
        await egress.send(outbound(soap_endpoint(routes)))
    message = str(caught.value)
    assert "not with a SOAP envelope" in message and "html, not a SOAP Envelope" in message
    assert "check that the address is the SOAP service" in message


async def test_connection_refused_is_retriable(egress: SoapEgress, routes: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}/soap"
    with pytest.raises(EndpointUnavailable, match="connection failed"):
        await egress.send(outbound(soap_endpoint(routes, address=closed)))


async def test_a_timeout_is_retriable(
    egress: SoapEgress, dept: SoapDepartment, routes: Path
) -> None:
    def slow(_: int) -> web.Response | None:
        time.sleep(0.6)  # the department's own thread: the hub's loop is not blocked
        return None

    dept.behaviour = slow
    with pytest.raises(EndpointUnavailable, match=r"within its timeout of 0\.3 s"):
        await egress.send(outbound(soap_endpoint(routes, timeout=0.3)))


async def test_a_document_that_is_not_the_body_element_is_a_misconfiguration(
    egress: SoapEgress, dept: SoapDepartment, routes: Path
) -> None:
    other = b'<LegalEntity xmlns="urn:other"><Name>x</Name></LegalEntity>'
    with pytest.raises(EndpointMisconfigured) as caught:
        await egress.send(outbound(soap_endpoint(routes), other))
    assert f"takes the body element {{{TAX_NS}}}TaxpayerRegistration" in str(caught.value)
    assert "{urn:other}LegalEntity" in str(caught.value)
    assert dept.received == []


# --- wrapped and rpc styles -----------------------------------------------------------------


async def test_wrapped_style_puts_the_document_into_the_named_part(
    egress: SoapEgress, dept: SoapDepartment, routes: Path
) -> None:
    (routes / "wsdl" / "wrapped.wsdl").write_text(wsdl_text(dept.url, wrapped=True), "utf-8")
    endpoint = soap_endpoint(
        routes,
        wsdl="wsdl/wrapped.wsdl",
        service="TaxService",
        port="TaxPort",
        operation="Register",
        part="registration",
    )
    dept.behaviour = lambda n: web.Response(
        body=f'<e:Envelope xmlns:e="{SOAP11}"><e:Body><Ack/></e:Body></e:Envelope>'.encode(),
        content_type="text/xml",
    )
    await egress.send(outbound(endpoint))
    wrapper = body_element(dept.received[0].body)
    assert wrapper.tag == f"{{{TAX_NS}}}Register"
    [part] = wrapper
    assert part.tag == f"{{{TAX_NS}}}registration"
    assert part[0].tag == f"{{{TAX_NS}}}TaxpayerRegistration"
    assert ROOT_BYTES in dept.received[0].body


async def test_rpc_style_needs_a_part_and_names_them(
    egress: SoapEgress, dept: SoapDepartment, routes: Path
) -> None:
    (routes / "wsdl" / "rpc.wsdl").write_text(wsdl_text(dept.url, style="rpc"), "utf-8")
    fields = {
        "wsdl": "wsdl/rpc.wsdl",
        "service": "TaxService",
        "port": "TaxPort",
        "operation": "Register",
    }
    with pytest.raises(ConfigError, match=r"rpc style.*set 'part'.*parts: 'registration'"):
        egress.check(soap_endpoint(routes, **fields))
    dept.behaviour = lambda n: web.Response(status=202)
    receipt = await egress.send(outbound(soap_endpoint(routes, part="registration", **fields)))
    assert receipt.status == 202
    wrapper = body_element(dept.received[0].body)
    assert wrapper.tag == f"{{{TAX_NS}}}Register" and wrapper[0].tag == "registration"


# --- configuration errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("service", "TaxBureu", "no service named 'TaxBureu' (did you mean 'TaxBureau'?)"),
        ("port", "Bureau", "no port of service 'TaxBureau' named 'Bureau'"),
        (
            "operation",
            "RegisterTaxpayers",
            "no operation of port 'TaxBureau' named 'RegisterTaxpayers' (did you mean "
            "'RegisterTaxpayer'?); the WSDL has: 'RegisterTaxpayer'",
        ),
        ("part", "registration", "has no child 'registration'"),
    ],
)
async def test_unknown_names_are_config_errors_that_list_the_choices(
    egress: SoapEgress, routes: Path, field: str, value: str, expected: str
) -> None:
    endpoint = soap_endpoint(routes, **{field: value})
    with pytest.raises(ConfigError) as checked:
        egress.check(endpoint)
    assert expected in str(checked.value)
    with pytest.raises(EndpointMisconfigured) as sent:
        await egress.send(outbound(endpoint))
    assert expected in str(sent.value) and not sent.value.retriable


def test_lint_reports_the_wsdl_mistake_on_its_line(routes: Path) -> None:
    (routes / "endpoints.yaml").write_text(
        """endpoints:
  - name: tax-bureau
    kind: soap
    wsdl: wsdl/tax.wsdl
    service: TaxBureau
    port: TaxBureau
    operation: RegisterTaxpayr
    format: tax.TaxpayerRegistration
    username: hub
    password: "${NO_SUCH_LINT_SECRET}"
""",
        "utf-8",
    )
    problems = [p for p in lint(routes) if "no routes defined" not in p.message]
    assert [(p.line, p.severity) for p in problems] == [(7, "error"), (10, "warning")]
    assert "did you mean 'RegisterTaxpayer'?" in problems[0].message
    assert "${NO_SUCH_LINT_SECRET}" in problems[1].message


def test_the_loader_refuses_a_wsdl_outside_the_routes_folder_and_unknown_kinds(
    routes: Path,
) -> None:
    (routes / "endpoints.yaml").write_text(
        """endpoints:
  - name: outside
    kind: soap
    wsdl: ../elsewhere.wsdl
    service: S
    port: P
    operation: O
    format: f
  - name: half
    kind: soap
    wsdl: wsdl/tax.wsdl
    service: S
    port: P
    operation: O
    format: f
    username: hub
  - name: typo
    kind: sopa
    format: f
""",
        "utf-8",
    )
    messages = [p.message for p in load_files(routes).problems]
    assert any("lies outside the routes folder" in m for m in messages)
    assert any("username and password go together" in m for m in messages)
    assert any("kind 'sopa' is not an endpoint kind (did you mean 'soap'?)" in m for m in messages)


# --- where a WSDL may be loaded from --------------------------------------------------------


@pytest.mark.parametrize(
    ("schema_import", "refusal"),
    [
        (
            '<xs:import namespace="urn:x" schemaLocation="http://127.0.0.1:9/evil.xsd"/>',
            "a local WSDL may import only files inside the routes folder",
        ),
        (
            '<xs:include schemaLocation="../../outside.xsd"/>',
            "lies outside the routes folder",
        ),
        (
            '<xs:import namespace="urn:x" schemaLocation="file:///etc/passwd"/>',
            "a local WSDL may import only files inside the routes folder",
        ),
    ],
)
async def test_imports_outside_the_allowed_places_are_refused(
    egress: SoapEgress, dept: SoapDepartment, routes: Path, schema_import: str, refusal: str
) -> None:
    (routes.parent / "outside.xsd").write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>', "utf-8"
    )
    (routes / "wsdl" / "bad.wsdl").write_text(
        wsdl_text(dept.url, schema_import=schema_import), "utf-8"
    )
    endpoint = soap_endpoint(
        routes, wsdl="wsdl/bad.wsdl", service="TaxService", port="TaxPort", operation="Register"
    )
    with pytest.raises(ConfigError, match=refusal):
        egress.check(endpoint)
    with pytest.raises(EndpointMisconfigured, match=refusal):
        await egress.send(outbound(endpoint))
    assert dept.received == []


def test_an_import_inside_the_routes_folder_is_allowed(dept: SoapDepartment, routes: Path) -> None:
    (routes / "wsdl" / "types.xsd").write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:types">'
        '<xs:element name="Extra" type="xs:string"/></xs:schema>',
        "utf-8",
    )
    (routes / "wsdl" / "ok.wsdl").write_text(
        wsdl_text(
            dept.url,
            schema_import='<xs:import namespace="urn:types" schemaLocation="types.xsd"/>',
        ),
        "utf-8",
    )
    endpoint = soap_endpoint(
        routes, wsdl="wsdl/ok.wsdl", service="TaxService", port="TaxPort", operation="Register"
    )
    operation = WsdlCache().operation(endpoint)
    assert operation.body == f"{{{TAX_NS}}}TaxpayerRegistration" and operation.version == "1.1"


def test_a_wsdl_with_a_dtd_is_refused(dept: SoapDepartment, routes: Path) -> None:
    text = wsdl_text(dept.url).replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
    )
    (routes / "wsdl" / "dtd.wsdl").write_text(text, "utf-8")
    endpoint = soap_endpoint(
        routes, wsdl="wsdl/dtd.wsdl", service="TaxService", port="TaxPort", operation="Register"
    )
    with pytest.raises(ConfigError, match="cannot be used"):
        WsdlCache().operation(endpoint)


async def test_a_url_wsdl_loads_from_its_host_and_may_not_import_from_another(
    egress: SoapEgress, dept: SoapDepartment, routes: Path
) -> None:
    endpoint = soap_endpoint(routes, wsdl=dept.url + "?wsdl")
    assert endpoint.wsdl_root == f"http://127.0.0.1:{dept.port}"
    await egress.send(outbound(endpoint))
    assert len(dept.received) == 1

    other_host = f"http://localhost:{dept.port}/types.xsd"  # same port, another host name
    app = web.Application()
    text = wsdl_text(
        dept.url, schema_import=f'<xs:import namespace="urn:x" schemaLocation="{other_host}"/>'
    )

    async def serve(_: web.Request) -> web.Response:
        return web.Response(text=text, content_type="text/xml")

    app.router.add_get("/bad.wsdl", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        bad = soap_endpoint(
            routes,
            wsdl=f"http://127.0.0.1:{port}/bad.wsdl",
            service="TaxService",
            port="TaxPort",
            operation="Register",
        )
        with pytest.raises(EndpointMisconfigured) as caught:
            await egress.send(outbound(bad))
    finally:
        await runner.cleanup()
    assert f"may import only from http://127.0.0.1:{port}" in str(caught.value)


async def test_an_unreachable_url_wsdl_is_retriable(egress: SoapEgress, routes: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = soap_endpoint(routes, wsdl=f"http://127.0.0.1:{port}/service?wsdl")
    with pytest.raises(EndpointUnavailable, match="cannot fetch"):
        await egress.send(outbound(endpoint))
