"""The SOAP contract as a spyne service: its types, its WSDL, and the messages it answers with.

spyne is the single description of the contract: the WSDL is generated from the classes below,
and the front door (``exchange.ingress.soap``) reads the typed header and parameters and writes
every answer, fault details included, through spyne's own (de)serializers, so what the hub
sends cannot drift from what the WSDL promises. spyne does not run the requests: its servers are
synchronous and the hub is asyncio, so the operations' bodies here are never called; the front
door dispatches to the hub itself (one code path with REST: ``Intake.submit``).
"""

# spyne ships no type information: its base classes and decorator are ``Any`` to mypy.
# mypy: disable-error-code="misc, import-untyped, no-untyped-call, untyped-decorator"
# spyne declares a type's fields as a class-level list:
# ruff: noqa: RUF012

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from lxml import etree

import exchange.spyne_compat  # noqa: F401  (before spyne: makes its imports quiet)

# isort: split
from spyne import (
    AnyXml,
    Application,
    Array,
    Boolean,
    ComplexModel,
    Integer,
    MethodContext,
    ServiceBase,
    Unicode,
    rpc,
)
from spyne.const.xml import XSD
from spyne.interface.wsdl import Wsdl11
from spyne.protocol import ProtocolBase
from spyne.protocol.soap import Soap11, Soap12
from spyne.server import ServerBase

from exchange.ingress.soap_envelope import HUB as NS

SUBMIT = "Submit"
GET_STATUS = "GetStatus"
HTTP_TRANSPORT = "http://schemas.xmlsoap.org/soap/http"


def _text(required: bool = False) -> Any:
    return Unicode(min_occurs=1 if required else 0, nillable=False)


def _int(required: bool = False) -> Any:
    return Integer(min_occurs=1 if required else 0, nillable=False)


class ExchangeHeader(ComplexModel):
    """The envelope, in the SOAP header: the same fields as REST's X-Exchange-* headers."""

    __namespace__ = NS
    _type_info = [
        ("sender", _text()),
        ("messageId", _text()),
        ("correlationId", _text()),
        ("messageType", _text()),
        ("schemaVersion", _text()),
    ]


class Document(ComplexModel):
    """The business document, any element in any namespace, carried as it is."""

    __namespace__ = NS
    _type_info = [
        (
            "content",
            AnyXml(
                schema_tag=XSD("any"),
                namespace="##any",
                process_contents="lax",
                min_occurs=1,
                nillable=False,
            ),
        )
    ]


class Receipt(ComplexModel):
    __namespace__ = NS
    _type_info = [
        ("id", _text(True)),
        ("messageId", _text(True)),
        ("correlationId", _text(True)),
        ("status", _text(True)),
        ("duplicate", Boolean(min_occurs=1, nillable=False)),
    ]


class Error(ComplexModel):
    """One problem with a document: ``Problem.as_dict`` of the REST answer's ``errors``."""

    __namespace__ = NS
    _type_info = [("message", _text(True)), ("line", _int()), ("path", _text()), ("rule", _text())]


class Problem(ComplexModel):
    """A fault's detail: the REST problem response (status, title, detail, errors)."""

    __namespace__ = NS
    _type_info = [
        ("status", _int(True)),
        ("title", _text(True)),
        ("detail", _text(True)),
        ("errors", Array(Error, nillable=False, min_occurs=0)),
    ]


class Fact(ComplexModel):
    """One free-form field of a trace step (attempt, retrying, error, ...)."""

    __namespace__ = NS
    _type_info = [("name", _text(True)), ("value", _text())]


class Step(ComplexModel):
    __namespace__ = NS
    _type_info = [
        ("at", _text()),
        ("step", _text(True)),
        ("endpoint", _text()),
        ("facts", Array(Fact, nillable=False, min_occurs=0)),
    ]


class DeliveryRecord(ComplexModel):
    __namespace__ = NS
    __type_name__ = "Delivery"
    _type_info = [
        ("endpoint", _text(True)),
        ("route", _text()),
        ("adapters", Array(Unicode, member_name="adapter", nillable=False, min_occurs=0)),
        ("status", _text()),
        ("attempts", _int()),
        ("lastError", _text()),
        ("httpStatus", _int()),
        ("updatedAt", _text()),
    ]


class MessageStatus(ComplexModel):
    """GET /v1/messages/{id}, as XML."""

    __namespace__ = NS
    _type_info = [
        ("id", _text(True)),
        ("status", _text(True)),
        ("sender", _text()),
        ("messageId", _text()),
        ("correlationId", _text()),
        ("messageType", _text()),
        ("schemaVersion", _text()),
        ("sizeBytes", _int()),
        ("receivedAt", _text()),
        ("updatedAt", _text()),
        ("lastError", _text()),
        ("trace", Array(Step, nillable=False, min_occurs=0)),
        ("deliveries", Array(DeliveryRecord, nillable=False, min_occurs=0)),
    ]


class ExchangeHub(ServiceBase):
    """Declarations only: ``exchange.ingress.soap`` answers these operations on the event loop."""

    @rpc(
        Document.customize(min_occurs=1, nillable=False),
        _args=("document",),
        _in_message_name=SUBMIT,
        _in_header=(ExchangeHeader,),
        _returns=Receipt,
        _out_variable_name="receipt",
        _throws=[Problem],
    )
    def Submit(ctx: Any, document: Any) -> Any:
        """Submit a message: the envelope in the ExchangeHeader, the document in the body."""
        raise NotImplementedError("answered by exchange.ingress.soap")

    @rpc(
        _text(True),
        _args=("id",),
        _in_message_name=GET_STATUS,
        _returns=MessageStatus,
        _out_variable_name="message",
        _throws=[Problem],
    )
    def GetStatus(ctx: Any, id: Any) -> Any:
        """Status, trace and deliveries of a message, by the hub id from the receipt."""
        raise NotImplementedError("answered by exchange.ingress.soap")


class _Transport(ServerBase):
    """What spyne needs to build contexts: an application that says how it is carried."""

    transport = HTTP_TRANSPORT


def _application(protocol: type[Any]) -> Any:
    app = Application(
        [ExchangeHub], tns=NS, name="ExchangeHub", in_protocol=protocol(), out_protocol=protocol()
    )
    return _Transport(app)


@dataclass(frozen=True, slots=True)
class _Codec:
    server: Any

    def context(self, operation: str | None = None) -> Any:
        ctx = MethodContext(self.server, MethodContext.SERVER)
        if operation is not None:
            ctx.descriptor = self.server.app.interface.service_method_map[f"{{{NS}}}{operation}"][0]
        return ctx


_CODECS = {"1.1": _Codec(_application(Soap11)), "1.2": _Codec(_application(Soap12))}


def read_header(element: etree._Element) -> Any:
    """The typed ExchangeHeader from its element (an ``ExchangeHeader`` instance)."""
    codec = _CODECS["1.1"]
    return codec.server.app.in_protocol.from_element(codec.context(), ExchangeHeader, element)


def read_status_request(element: etree._Element) -> str | None:
    """The hub id asked for in a GetStatus body element."""
    codec = _CODECS["1.1"]
    ctx = codec.context(GET_STATUS)
    args = codec.server.app.in_protocol.from_element(ctx, ctx.descriptor.in_message, element)
    hub_id: str | None = args.id
    return hub_id


def response(version: str, operation: str, value: Any) -> bytes:
    """The whole response envelope for ``operation`` returning ``value``, in SOAP ``version``."""
    codec = _CODECS[version]
    ctx = codec.context(operation)
    ctx.out_object = (value,)
    protocol = codec.server.app.out_protocol
    protocol.serialize(ctx, ProtocolBase.RESPONSE)
    protocol.create_out_string(ctx)
    return b"".join(ctx.out_string)


def problem_element(problem: Any) -> etree._Element:
    """A ``Problem`` as the element that goes inside a fault's detail."""
    codec = _CODECS["1.1"]
    holder = etree.Element("holder", nsmap={"hub": NS})
    codec.server.app.out_protocol.to_parent(codec.context(), Problem, problem, holder, NS)
    element: etree._Element = holder[0]
    etree.cleanup_namespaces(element)
    return element


class WsdlCache:
    """The WSDL for each address clients reach the hub by (its soap:address is that URL).

    Bounded, because the address comes from the request's Host header; building one
    takes a few milliseconds, serving a cached one nothing.
    """

    SIZE = 32

    def __init__(self) -> None:
        self._documents: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()  # spyne's interface document is not safe to share

    def get(self, address: str) -> bytes:
        with self._lock:
            found = self._documents.get(address)
            if found is not None:
                self._documents.move_to_end(address)
                return found
            wsdl = Wsdl11(_CODECS["1.1"].server.app.interface)
            wsdl.build_interface_document(address)
            document: bytes = wsdl.get_interface_document()
            self._documents[address] = document
            if len(self._documents) > self.SIZE:
                self._documents.popitem(last=False)
            return document
