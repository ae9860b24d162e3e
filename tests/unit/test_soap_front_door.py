"""The SOAP front door's own decisions: hub failures are Server/Receiver faults, the rest of
the app is reached untouched. The hub's intake is a stand-in here; tests/integration has the
real one."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from lxml import etree
from starlette.types import Receive, Scope, Send

from exchange.errors import BackboneError
from exchange.hub import Hub
from exchange.ingress.soap import SoapFrontDoor
from exchange.ingress.soap_envelope import HUB, SOAP11_ENV, SOAP12_ENV
from exchange.pipeline.intake import Accepted, Submission


@dataclass
class Intake:
    failure: BaseException | None = None
    seen: list[Submission] = field(default_factory=list)

    async def submit(self, submission: Submission) -> Accepted:
        self.seen.append(submission)
        if self.failure is not None:
            raise self.failure
        return Accepted("h-1", submission.message_id or "m", "c-1")


async def fallback(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def client(intake: Intake) -> httpx.AsyncClient:
    settings = SimpleNamespace(max_message_bytes=1024 * 1024, max_xml_depth=64)
    hub = cast(Hub, SimpleNamespace(settings=settings, intake=intake))
    transport = httpx.ASGITransport(app=SoapFrontDoor(hub, fallback))
    return httpx.AsyncClient(transport=transport, base_url="http://hub.test")


def request(env: str) -> bytes:
    return (
        f'<s:Envelope xmlns:s="{env}" xmlns:h="{HUB}"><s:Header><h:ExchangeHeader>'
        "<h:messageId>m-7</h:messageId><h:messageType>t</h:messageType></h:ExchangeHeader>"
        '</s:Header><s:Body><h:Submit><h:document><d xmlns="urn:d"/></h:document></h:Submit>'
        "</s:Body></s:Envelope>"
    ).encode()


SOAP11 = {"Content-Type": "text/xml", "Authorization": "Bearer k-1"}
SOAP12 = {"Content-Type": "application/soap+xml", "Authorization": "Bearer k-1"}


async def test_submission_reaches_intake_as_rest_would_send_it() -> None:
    intake = Intake()
    async with client(intake) as http:
        response = await http.post("/soap", content=request(SOAP11_ENV), headers=SOAP11)
    assert response.status_code == 200, response.text
    (seen,) = intake.seen
    assert seen == Submission(
        body=b'<d xmlns="urn:d"/>',
        key="k-1",
        sender=None,
        message_id="m-7",
        message_type="t",
        via="soap",
    )


@pytest.mark.parametrize(
    ("failure", "status", "title"),
    [
        (BackboneError("the log is full"), 503, "Hub unavailable"),
        (RuntimeError("bug"), 500, "Internal error"),
    ],
)
@pytest.mark.parametrize("version", ["1.1", "1.2"])
async def test_hub_failures_are_server_faults(
    failure: BaseException, status: int, title: str, version: str
) -> None:
    env, headers = (SOAP11_ENV, SOAP11) if version == "1.1" else (SOAP12_ENV, SOAP12)
    async with client(Intake(failure)) as http:
        response = await http.post("/soap", content=request(env), headers=headers)
    assert response.status_code == 500  # Server and Receiver faults are 500 in both versions
    root = etree.fromstring(response.content)
    if version == "1.1":
        code = root.findtext(f".//{{{SOAP11_ENV}}}Fault/faultcode")
        assert code == "soap:Server"
    else:
        code = root.findtext(f".//{{{SOAP12_ENV}}}Code/{{{SOAP12_ENV}}}Value")
        assert code == "soap:Receiver"
    problem = root.find(f".//{{{HUB}}}Problem")
    assert problem is not None
    assert problem.findtext(f"{{{HUB}}}status") == str(status)
    assert problem.findtext(f"{{{HUB}}}title") == title
    assert "bug" not in response.text  # internals stay in the hub's log


async def test_other_paths_pass_through_and_wsdl_needs_get() -> None:
    async with client(Intake()) as http:
        assert (await http.post("/v1/messages", content=b"x")).status_code == 204
        assert (await http.get("/soapy")).status_code == 204
        assert (await http.put("/soap", content=b"x")).status_code == 405
        wsdl = await http.get("/soap?WSDL", headers={"Host": "evil\r\nx"})
    assert wsdl.status_code == 200
    # A Host header that is no host name does not make it into the WSDL.
    assert b'location="http://' in wsdl.content and b"evil" not in wsdl.content


async def test_wsdl_address_behind_a_root_path() -> None:
    settings = SimpleNamespace(max_message_bytes=1024, max_xml_depth=64)
    hub = cast(Hub, SimpleNamespace(settings=settings, intake=Intake()))
    app: Any = SoapFrontDoor(hub, fallback)
    transport = httpx.ASGITransport(app=app, root_path="/hub")
    async with httpx.AsyncClient(transport=transport, base_url="https://gw.example") as http:
        wsdl = await http.get("/soap?wsdl")
    assert b'location="https://gw.example/hub/soap"' in wsdl.content
