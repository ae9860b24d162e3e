"""SOAP departments for tests: the demo's spyne service on a real port, with canned faults.

``SoapDepartment`` serves the tax bureau's spyne application (``exchange.demo_soap``) from
an aiohttp server in a background thread, records every request as it arrived (headers
lower-cased, raw body), and answers as told: ``behaviours[n]`` (1-based call number) may
return a canned response (a SOAP fault, an HTML error page...); otherwise spyne answers.
``wsdl_text`` writes small hand-made WSDLs for the cases spyne does not produce (SOAP 1.2,
a wrapper element, imports).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from exchange import demo_soap
from tests.harness import free_port

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
TAX_NS = demo_soap.TAX_NS


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


Behaviour = Callable[[int], web.Response | None]


class SoapDepartment:
    """The demo tax bureau's spyne service on 127.0.0.1, in a thread of its own."""

    path = "/tax-soap"

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self.behaviour: Behaviour | None = None
        self.calls = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._bridge = demo_soap.WsgiBridge(demo_soap.application(self.url), self.path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def wsdl(self) -> bytes:
        return demo_soap.wsdl(self.url)

    def start(self) -> SoapDepartment:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", self.path, self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._bridge.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def reset(self) -> None:
        self.received.clear()
        self.behaviour = None
        self.calls = 0

    async def _handle(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            self.calls += 1
            headers = {k.lower(): v for k, v in request.headers.items()}
            self.received.append(Received(headers, await request.read()))
            if self.behaviour is not None:
                answer = self.behaviour(self.calls)
                if answer is not None:
                    return answer
        return await self._bridge(request)


def fault_11(code: str, reason: str, detail: str = "") -> web.Response:
    """A SOAP 1.1 Fault, with HTTP 500 as SOAP 1.1 over HTTP sends every fault."""
    detail_xml = f"<detail><Why>{detail}</Why></detail>" if detail else ""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{SOAP11}"><s:Body>'
        f"<s:Fault><faultcode>s:{code}</faultcode><faultstring>{reason}</faultstring>"
        f"{detail_xml}</s:Fault></s:Body></s:Envelope>"
    )
    return web.Response(status=500, body=body.encode(), content_type="text/xml")


def fault_12(code: str, reason: str, detail: str = "", subcode: str = "") -> web.Response:
    """A SOAP 1.2 Fault (400 for Sender, 500 otherwise, as SOAP 1.2's HTTP binding says)."""
    sub = f"<e:Subcode><e:Value>t:{subcode}</e:Value></e:Subcode>" if subcode else ""
    detail_xml = f"<e:Detail><t:Why>{detail}</t:Why></e:Detail>" if detail else ""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><e:Envelope xmlns:e="{SOAP12}" '
        f'xmlns:t="urn:test"><e:Body><e:Fault><e:Code><e:Value>e:{code}</e:Value>{sub}'
        f'</e:Code><e:Reason><e:Text xml:lang="en">{reason}</e:Text></e:Reason>{detail_xml}'
        "</e:Fault></e:Body></e:Envelope>"
    )
    status = 400 if code == "Sender" else 500
    return web.Response(status=status, body=body.encode(), content_type="application/soap+xml")


def wsdl_text(
    address: str,
    *,
    version: str = "1.1",
    wrapped: bool = False,
    schema_import: str = "",
    style: str = "document",
) -> str:
    """A one-operation WSDL (service TaxService, port TaxPort, operation Register).

    Bare: the body element is ``tax:TaxpayerRegistration``; ``wrapped``: the body element
    is ``tax:Register`` with children ``meta`` and ``registration``.  ``schema_import``
    is put into the types schema (to test what imports may reach).  ``style="rpc"`` makes
    the operation rpc/literal with one part, ``registration``.
    """
    soap = (
        "http://schemas.xmlsoap.org/wsdl/soap12/"
        if version == "1.2"
        else "http://schemas.xmlsoap.org/wsdl/soap/"
    )
    if style == "rpc":
        part = '<wsdl:part name="registration" type="xs:anyType"/>'
        body = f'<soap:body use="literal" namespace="{TAX_NS}"/>'
    elif wrapped:
        part = '<wsdl:part name="parameters" element="tax:Register"/>'
        body = '<soap:body use="literal"/>'
    else:
        part = '<wsdl:part name="body" element="tax:TaxpayerRegistration"/>'
        body = '<soap:body use="literal"/>'
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="{soap}"
    xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:tax="{TAX_NS}"
    targetNamespace="{TAX_NS}">
  <wsdl:types>
    <xs:schema targetNamespace="{TAX_NS}" elementFormDefault="qualified">
      {schema_import}
      <xs:element name="TaxpayerRegistration" type="xs:anyType"/>
      <xs:element name="Register">
        <xs:complexType><xs:sequence>
          <xs:element name="meta" type="xs:string" minOccurs="0"/>
          <xs:element name="registration" type="xs:anyType"/>
        </xs:sequence></xs:complexType>
      </xs:element>
      <xs:element name="Ack" type="xs:string"/>
    </xs:schema>
  </wsdl:types>
  <wsdl:message name="In">{part}</wsdl:message>
  <wsdl:message name="Out"><wsdl:part name="body" element="tax:Ack"/></wsdl:message>
  <wsdl:portType name="TaxPortType">
    <wsdl:operation name="Register">
      <wsdl:input message="tax:In"/><wsdl:output message="tax:Out"/>
    </wsdl:operation>
  </wsdl:portType>
  <wsdl:binding name="TaxBinding" type="tax:TaxPortType">
    <soap:binding style="{style}" transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="Register">
      <soap:operation soapAction="urn:tax:Register"/>
      <wsdl:input>{body}</wsdl:input>
      <wsdl:output><soap:body use="literal"/></wsdl:output>
    </wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="TaxService">
    <wsdl:port name="TaxPort" binding="tax:TaxBinding">
      <soap:address location="{address}"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
"""
