"""Broken WSDLs are refused with one line naming the WSDL and what is wrong in it.

Each WSDL is written into a routes folder and read by the real WsdlCache (zeep); the
lint goes through the `exchange` command in its own process (the warning filters of a
real run, not pytest's), and the delivery through the real engine on the embedded
backbone with the real SOAP egress.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from exchange.backbone import EmbeddedBackbone, Record
from exchange.backbone.topics import DEAD_LETTERS, delivery_topic
from exchange.egress import EgressRegistry, EndpointMisconfigured, SoapEgress, WsdlCache
from exchange.egress.base import Outbound
from exchange.egress.wsdl import WsdlRefused
from exchange.envelope import Envelope
from exchange.pipeline.delivery import EndpointDelivery
from exchange.records.headers import DEAD_LETTER_REASON
from exchange.routing.model import Endpoint, SoapEndpoint
from exchange.ruleset import RuleSet
from tests.harness import REPO, make_home
from tests.soap_fakes import TAX_NS, wsdl_text

WSDL = wsdl_text("http://127.0.0.1:9/tax")  # never called: every WSDL here is refused first
BINDING = '<soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>'
BINDING_INPUT = '<wsdl:input><soap:body use="literal"/>'
HEADER = '<soap:header message="tax:requestheader" part="h" use="literal"/>'


def edit(old: str, new: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        assert old in text, old
        return text.replace(old, new)

    return change


def replaced(text: str) -> Callable[[str], str]:
    return lambda _: text


# What is broken, and what the refusal must say about it.
BROKEN_DOCUMENTS: dict[str, tuple[Callable[[str], str], list[str]]] = {
    "soap:header names an unknown message": (
        edit(BINDING_INPUT, BINDING_INPUT + HEADER),
        ["soap:header", "'tax:requestheader'", "does not define", "line 29"],
    ),
    "soap:header names an unknown part": (
        edit(BINDING_INPUT, BINDING_INPUT + HEADER.replace("requestheader", "In")),
        ["soap:header", "part 'h'", "its parts: 'body'"],
    ),
    "the input names an unknown message": (
        edit('<wsdl:input message="tax:In"/>', '<wsdl:input message="tax:Nope"/>'),
        ["input of operation 'Register'", "'tax:Nope'", "does not define"],
    ),
    "the output names an unknown message": (
        edit('<wsdl:output message="tax:Out"/>', '<wsdl:output message="tax:Gone"/>'),
        ["output of operation 'Register'", "'tax:Gone'"],
    ),
    "the input has no message": (
        edit('<wsdl:input message="tax:In"/>', "<wsdl:input/>"),
        ["input of operation 'Register'", "no message attribute"],
    ),
    "the binding names an unknown portType": (
        edit('type="tax:TaxPortType"', 'type="tax:NoPortType"'),
        ["binding 'TaxBinding'", "wsdl:portType 'tax:NoPortType'"],
    ),
    "the binding has no type": (
        edit(' type="tax:TaxPortType"', ""),
        ["binding 'TaxBinding'", "no type attribute"],
    ),
    "the binding has an operation its portType lacks": (
        edit(
            '<wsdl:operation name="Register">\n      <soap:',
            '<wsdl:operation name="Other">\n<soap:',
        ),
        ["operation 'Other'", "does not list"],
    ),
    "the portType operation has no input": (
        edit('<wsdl:input message="tax:In"/>', ""),
        ["operation 'Register' of binding 'TaxBinding' has an input", "no input"],
    ),
    "the port has no binding": (
        edit(' binding="tax:TaxBinding"', ""),
        ["port 'TaxPort'", "no binding attribute"],
    ),
    "a part names an unknown element": (
        edit('element="tax:TaxpayerRegistration"', 'element="tax:Nobody"'),
        [f"'{{{TAX_NS}}}In'", "invalid part ('body')"],
    ),
    "a schema names an unknown type": (
        edit('name="Ack" type="xs:string"', 'name="Ack" type="tax:Missing"'),
        ["Unable to resolve type", "Missing"],
    ),
    "a reference uses an undeclared prefix": (
        edit('type="tax:TaxPortType"', 'type="zz:TaxPortType"'),
        ["'zz'"],
    ),
    "a wsdl:message has no name": (
        edit('<wsdl:message name="In">', "<wsdl:message>"),
        ["wsdl:message has no name"],
    ),
    "the XML is malformed": (lambda text: text[:-40], ["Invalid XML content", "line 36"]),
    "the file is empty": (replaced(""), ["Document is empty"]),
    "the file is not XML": (replaced("SOAP service, see the portal"), ["'<' not found"]),
    "the root is some other XML": (
        replaced("<html><body>moved</body></html>"),
        ["root element is <html>", "not a WSDL"],
    ),
    "the file is a schema": (
        replaced('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>'),
        ["root element is <schema>", "not a WSDL"],
    ),
    "the file is a WSDL 2.0": (
        replaced('<description xmlns="http://www.w3.org/ns/wsdl"/>'),
        ["WSDL 2.0", "WSDL 1.1"],
    ),
    "the WSDL imports itself in a loop": (
        edit("<wsdl:types>", '<wsdl:import namespace="urn:x" location="bad.wsdl"/><wsdl:types>'),
        ["wsdl:import", "loop"],
    ),
    "a wsdl:import names a missing file": (
        edit("<wsdl:types>", '<wsdl:import namespace="urn:x" location="gone.wsdl"/><wsdl:types>'),
        ["cannot read", "gone.wsdl", "No such file"],
    ),
    "an imported schema is not XML": (
        edit(
            'elementFormDefault="qualified">',
            'elementFormDefault="qualified"><xs:import namespace="urn:x" schemaLocation="x.txt"/>',
        ),
        ["Invalid XML content"],
    ),
}

# Ports zeep leaves out: the refusal says why that port cannot be used.
BROKEN_PORTS: dict[str, tuple[Callable[[str], str], list[str]]] = {
    "the port names an unknown binding": (
        edit('binding="tax:TaxBinding"', 'binding="tax:NoBinding"'),
        ["port 'TaxPort'", "wsdl:binding 'tax:NoBinding'", "does not define", "line 34"],
    ),
    "the binding has no soap:binding": (
        edit(BINDING, ""),
        ["port 'TaxPort'", "no soap:binding element", "not a SOAP binding"],
    ),
    "the binding is not over HTTP": (
        edit("http://schemas.xmlsoap.org/soap/http", "http://www.w3.org/2010/soapjms/"),
        ["transport 'http://www.w3.org/2010/soapjms/'", "SOAP over HTTP only"],
    ),
}


@pytest.fixture
def routes(tmp_path: Path) -> Path:
    folder = tmp_path / "routes"
    (folder / "wsdl").mkdir(parents=True)
    (folder / "wsdl" / "x.txt").write_text("not a schema", "utf-8")
    return folder


def soap_endpoint(routes: Path, wsdl: str = "wsdl/bad.wsdl", **fields: Any) -> SoapEndpoint:
    data = {
        "name": "tax",
        "kind": "soap",
        "wsdl": wsdl,
        "service": "TaxService",
        "port": "TaxPort",
        "operation": "Register",
        "format": "tax.TaxpayerRegistration",
        **fields,
    }
    endpoint = Endpoint.model_validate(data, context={"routes_dir": routes})
    assert isinstance(endpoint, SoapEndpoint)
    return endpoint


def refusal(routes: Path, text: str) -> WsdlRefused:
    (routes / "wsdl" / "bad.wsdl").write_text(text, "utf-8")
    with pytest.raises(WsdlRefused) as refused:
        WsdlCache().operation(soap_endpoint(routes))
    message = str(refused.value)
    assert "\n" not in message and "; " in message, message  # one line, then what to do
    return refused.value


@pytest.mark.parametrize("broken", list(BROKEN_DOCUMENTS))
def test_a_broken_wsdl_is_refused_naming_it_and_the_mistake(routes: Path, broken: str) -> None:
    change, expected = BROKEN_DOCUMENTS[broken]
    refused = refusal(routes, change(WSDL))
    message = str(refused)
    assert message.startswith(f"WSDL {routes / 'wsdl' / 'bad.wsdl'}"), message
    assert refused.field == "wsdl"
    assert "fix the WSDL" in message or "check the endpoint's 'wsdl'" in message, message
    for words in expected:
        assert words in message, message


@pytest.mark.parametrize("broken", list(BROKEN_PORTS))
def test_a_port_zeep_leaves_out_is_refused_with_the_reason(routes: Path, broken: str) -> None:
    change, expected = BROKEN_PORTS[broken]
    refused = refusal(routes, change(WSDL))
    message = str(refused)
    assert message.startswith("endpoint 'tax' (WSDL wsdl/bad.wsdl): port 'TaxPort'"), message
    assert refused.field == "port"
    assert message.endswith("; choose a SOAP port of the service or fix the WSDL"), message
    for words in expected:
        assert words in message, message


def test_a_broken_reference_in_an_imported_wsdl_names_that_file(routes: Path) -> None:
    (routes / "wsdl" / "messages.wsdl").write_text(
        f'<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"\n'
        f'    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"\n'
        f'    xmlns:tax="{TAX_NS}" targetNamespace="{TAX_NS}">\n'
        '  <wsdl:binding name="Extra" type="tax:Elsewhere">\n'
        f"    {BINDING}\n"
        "  </wsdl:binding>\n"
        "</wsdl:definitions>\n",
        "utf-8",
    )
    importing = edit(
        "<wsdl:types>", f'<wsdl:import namespace="{TAX_NS}" location="messages.wsdl"/><wsdl:types>'
    )
    message = str(refusal(routes, importing(WSDL)))
    assert f"{routes / 'wsdl' / 'messages.wsdl'}, line 4" in message, message
    assert "binding 'Extra' names the wsdl:portType 'tax:Elsewhere'" in message


def test_the_hubs_own_refusals_are_kept(routes: Path) -> None:
    with_dtd = WSDL.replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
    )
    # A broken reference too: the DTD is what is said, as it is what the hub refuses first.
    message = str(refusal(routes, with_dtd.replace('type="tax:TaxPortType"', 'type="tax:No"')))
    assert "DOCTYPE or entity declarations, which the hub refuses" in message
    outside = edit(
        'elementFormDefault="qualified">',
        'elementFormDefault="qualified"><xs:include schemaLocation="../../outside.xsd"/>',
    )
    (routes.parent / "outside.xsd").write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>', "utf-8"
    )
    assert "lies outside the routes folder" in str(refusal(routes, outside(WSDL)))


def test_what_the_endpoint_does_not_use_may_be_odd(routes: Path) -> None:
    """A port zeep leaves out, or a port without soap:address, does not stop the others."""
    odd = WSDL.replace(
        "</wsdl:service>",
        '<wsdl:port name="Old" binding="tax:Retired"><soap:address location="http://x/"/>'
        "</wsdl:port></wsdl:service>",
    ).replace('<soap:address location="http://127.0.0.1:9/tax"/>', "")
    (routes / "wsdl" / "odd.wsdl").write_text(odd, "utf-8")
    operation = WsdlCache().operation(soap_endpoint(routes, wsdl="wsdl/odd.wsdl"))
    assert operation.body == f"{{{TAX_NS}}}TaxpayerRegistration"
    assert operation.address is None  # the endpoint's 'address' must then say where


async def test_the_soap_egress_refuses_a_broken_wsdl_without_retrying(routes: Path) -> None:
    (routes / "wsdl" / "bad.wsdl").write_text(edit(BINDING_INPUT, BINDING_INPUT + HEADER)(WSDL))
    endpoint = soap_endpoint(routes)
    envelope = Envelope.new(sender="samr-reg", message_type="tax.TaxpayerRegistration")
    egress = SoapEgress()
    await egress.start()
    try:
        with pytest.raises(EndpointMisconfigured) as refused:
            await egress.send(Outbound(envelope, endpoint, b"<doc/>", 1))
    finally:
        await egress.close()
    assert not refused.value.retriable
    assert "'tax:requestheader'" in str(refused.value)


# --- through the delivery engine ------------------------------------------------------------

ENDPOINTS_YAML = """endpoints:
  - name: tax-bureau
    kind: soap
    wsdl: wsdl/bad.wsdl
    service: TaxService
    port: TaxPort
    operation: Register
    format: tax.TaxpayerRegistration
    retry: {attempts: 5, initial_backoff: 30, jitter: 0}
"""


@pytest.fixture
async def backbone(tmp_path: Path) -> AsyncIterator[EmbeddedBackbone]:
    backbone = EmbeddedBackbone(tmp_path / "backbone.db")
    await backbone.start()
    yield backbone
    await backbone.close()


async def test_a_broken_wsdl_dead_letters_the_delivery_and_the_worker_goes_on(
    backbone: EmbeddedBackbone, tmp_path: Path
) -> None:
    home = make_home(tmp_path, ENDPOINTS_YAML)
    wsdl = home / "routes" / "wsdl" / "bad.wsdl"
    wsdl.parent.mkdir()
    wsdl.write_text(edit(BINDING_INPUT, BINDING_INPUT + HEADER)(WSDL), "utf-8")
    rules = RuleSet.load(home)
    egress = EgressRegistry({"soap": SoapEgress}, load_entry_points=False)
    await egress.start()
    headers = Envelope.new(sender="samr-reg", message_type="t").to_headers()
    await backbone.publish([Record(delivery_topic("tax-bureau"), b"<doc/>", headers=headers)])
    stop = asyncio.Event()
    worker = EndpointDelivery("tax-bureau", backbone, egress, lambda: rules, concurrency=2)
    task = asyncio.create_task(worker.run(stop))
    try:
        dead = await backbone.consumer("test", [DEAD_LETTERS])
        (first,) = await dead.fetch(timeout=5)
        await backbone.publish([Record(delivery_topic("tax-bureau"), b"<doc/>", headers=headers)])
        (second,) = await dead.fetch(timeout=5)
        assert not task.done()  # the endpoint's worker is still delivering
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await egress.close()
    for letter in (first, second):
        reason = letter.headers[DEAD_LETTER_REASON]
        assert reason.startswith(f"not retriable: WSDL {wsdl} cannot be used: "), reason
        assert "'tax:requestheader'" in reason and "fix the WSDL" in reason


# --- through `exchange routes lint` ---------------------------------------------------------


def test_routes_lint_names_the_wsdl_and_the_mistake(tmp_path: Path) -> None:
    for folder in ("schemas", "adapters", "routes"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    wsdls = tmp_path / "routes" / "wsdl"
    demo = (wsdls / "tax-bureau.wsdl").read_text("utf-8")
    soap_input = (
        '<wsdl:input name="TaxpayerRegistration">\n        <wsdlsoap11:body use="literal"/>'
    )
    assert soap_input in demo
    header = '<wsdlsoap11:header message="tns:requestheader" part="h" use="literal"/>'
    (wsdls / "tax-bureau.wsdl").write_text(demo.replace(soap_input, soap_input + header))
    # zeep only warns about this one: a real run (no pytest filters) must refuse it too.
    (wsdls / "copy.wsdl").write_text(
        demo.replace('message="tns:TaxpayerRegistration"', 'message="tns:Nothing"')
    )
    endpoints = tmp_path / "routes" / "endpoints.yaml"
    endpoints.write_text(
        endpoints.read_text("utf-8")
        + """
  - name: tax-copy
    kind: soap
    wsdl: wsdl/copy.wsdl
    service: TaxBureau
    port: TaxBureau
    operation: RegisterTaxpayer
    format: tax.TaxpayerRegistration
""",
        "utf-8",
    )
    environment = {
        **os.environ,
        "EXCHANGE_HOME": str(tmp_path),
        "EXCHANGE_DATA_DIR": str(tmp_path / "var"),
    }
    environment.pop("PYTHONWARNINGS", None)
    done = subprocess.run(
        [sys.executable, "-m", "exchange", "routes", "lint"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr, done.stderr
    lines = done.stdout.splitlines()
    [tax] = [line for line in lines if "endpoint 'tax-bureau'" in line]
    assert tax.startswith(f"{endpoints}:17: endpoint 'tax-bureau': WSDL "), tax
    assert f"{wsdls / 'tax-bureau.wsdl'} cannot be used" in tax
    assert "names the wsdl:message 'tns:requestheader', which the WSDL does not define" in tax
    [copy] = [line for line in lines if "endpoint 'tax-copy'" in line]
    assert f"{wsdls / 'copy.wsdl'} cannot be used" in copy
    assert "the input of operation 'RegisterTaxpayer'" in copy and "'tns:Nothing'" in copy
