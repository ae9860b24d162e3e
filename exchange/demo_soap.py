"""DEMO RECEIVER: the tax bureau's SOAP service, a stand-in for the department's system.

Not part of the hub: ``exchange serve --demo`` mounts it among the demo receivers (port
8001) at ``/demo-receivers/tax-bureau-soap``, its WSDL at ``...?wsdl``.  It is a spyne
application with one document/literal operation, ``RegisterTaxpayer``, whose body
element is the tax bureau's own ``tax:TaxpayerRegistration`` document and whose answer is
a ``tax:RegistrationAcknowledgement``.  A registration without a taxpayer identification
number gets a Client fault, as a real service would refuse it.

The hub loads the same WSDL from ``routes/wsdl/tax-bureau.wsdl`` (committed, so the hub
needs no network to start); ``python -m exchange.demo_soap > routes/wsdl/tax-bureau.wsdl``
writes it again after a change here.

spyne is a WSGI application; ``WsgiBridge`` serves it from aiohttp by running each call in
a worker thread: enough for a demo, and it keeps one port for every demo receiver.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from lxml import etree

import exchange.spyne_compat  # noqa: F401  (before spyne: makes its imports quiet)

# isort: split
from spyne import (
    Application,
    Boolean,
    ComplexModel,
    DateTime,
    Fault,
    ServiceBase,
    Unicode,
    rpc,
)
from spyne.model.primitive import AnyXml
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

TAX_NS = "urn:cn:gov:chinatax:taxpayer-registration:1"
SERVICE = "TaxBureau"
OPERATION = "RegisterTaxpayer"
PATH = "/demo-receivers/tax-bureau-soap"
DEFAULT_ADDRESS = "http://127.0.0.1:8001" + PATH

_GENERATED = (
    " DEMO: the WSDL of the demo tax bureau's SOAP service (exchange/demo_soap.py), as it serves "
    "it at ?wsdl. Written by: python -m exchange.demo_soap > routes/wsdl/tax-bureau.wsdl "
)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class RegistrationAcknowledgement(ComplexModel):  # type: ignore[misc]  # spyne is untyped
    """What the tax bureau answers: accepted, for which taxpayer, under which receipt."""

    __namespace__ = TAX_NS
    __type_name__ = "RegistrationAcknowledgementType"
    _type_info = (
        ("Accepted", Boolean),
        ("TaxpayerIdentificationNumber", Unicode),
        ("ReceiptNumber", Unicode),
        ("ReceivedAt", DateTime),
    )


class TaxBureau(ServiceBase):  # type: ignore[misc]
    @rpc(  # type: ignore[untyped-decorator]
        AnyXml,
        _body_style="bare",
        _in_message_name="TaxpayerRegistration",
        _out_message_name="RegistrationAcknowledgement",
        _returns=RegistrationAcknowledgement,
    )
    # The method's name is the WSDL operation's name (OPERATION).
    def RegisterTaxpayer(ctx: Any, _first_child: etree._Element) -> RegistrationAcknowledgement:
        # spyne hands an AnyXml argument the body element's first child; the document is
        # the body element itself, which the context keeps.
        registration = ctx.in_body_doc
        number = (registration.findtext(f"{{{TAX_NS}}}TaxpayerIdentificationNumber") or "").strip()
        if not number:
            raise Fault(
                faultcode="Client.MissingTaxpayerIdentificationNumber",
                faultstring="the registration has no TaxpayerIdentificationNumber",
                detail={"Hint": "send a tax:TaxpayerRegistration with its identification number"},
            )
        hub_id = ctx.transport.req_env.get("HTTP_X_EXCHANGE_ID", "")
        return RegistrationAcknowledgement(
            Accepted=True,
            TaxpayerIdentificationNumber=number,
            ReceiptNumber=f"TAX-{hub_id[:8] or 'DIRECT'}",
            ReceivedAt=datetime.now(UTC),
        )


def application(address: str | None = DEFAULT_ADDRESS) -> WsgiApplication:
    """The spyne WSGI application; its WSDL names ``address`` (None: the first request's)."""
    app = Application(
        [TaxBureau],
        tns=TAX_NS,
        name=SERVICE,
        in_protocol=Soap11(validator="lxml"),
        out_protocol=Soap11(),
    )
    wsgi = WsgiApplication(app)
    if address is not None:
        wsgi.doc.wsdl11.build_interface_document(address)
    return wsgi


def wsdl(address: str = DEFAULT_ADDRESS) -> bytes:
    """The service's WSDL, as committed under routes/wsdl/."""
    interface = application(address).doc.wsdl11
    root = etree.fromstring(interface.get_interface_document())
    root.addprevious(etree.Comment(_GENERATED))
    return etree.tostring(
        root.getroottree(), pretty_print=True, xml_declaration=True, encoding="UTF-8"
    )


class WsgiBridge:
    """Serves a WSGI application from aiohttp, each call in a worker thread."""

    def __init__(self, app: WsgiApp, script_name: str, *, threads: int = 4) -> None:
        self._app = app
        self._script_name = script_name
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="demo-wsgi")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def __call__(self, request: web.Request) -> web.Response:
        body = await request.read()
        environ = self._environ(request, body)
        loop = asyncio.get_running_loop()
        status, headers, answer = await loop.run_in_executor(self._pool, self._run, environ)
        code, _, reason = status.partition(" ")
        response = web.Response(status=int(code), reason=reason or None, body=answer)
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                response.headers.add(name, value)
        return response

    def _environ(self, request: web.Request, body: bytes) -> dict[str, Any]:
        host, _, port = (request.host or "127.0.0.1:80").partition(":")
        path = request.path
        path_info = path[len(self._script_name) :] if path.startswith(self._script_name) else ""
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": self._script_name,
            "PATH_INFO": path_info,
            "QUERY_STRING": request.query_string,
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "SERVER_NAME": host,
            "SERVER_PORT": port or "80",
            "SERVER_PROTOCOL": f"HTTP/{request.version.major}.{request.version.minor}",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": request.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in request.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _run(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            started[:] = [status, headers]
            return lambda data: None  # the legacy write() callable; spyne does not use it

        result = self._app(environ, start_response)
        try:
            answer = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return started[0], started[1], answer


if __name__ == "__main__":
    sys.stdout.buffer.write(wsdl())
