"""SOAP messages on the wire: the request around a document, and what an answer says.

The request is built as an lxml tree (envelope, the hub's header, WS-Security through
zeep's UsernameToken, the body and any wrapper) with a placeholder where the document
goes; the serialized tree is then split at the placeholder and the document's own bytes
put in.  So the receiver gets the document exactly as the hub translated and validated it,
byte for byte, as the body element (or inside the wrapper's part), never re-encoded by an
XSD-driven serializer.

Answers are parsed with the hub's safe parser; a SOAP 1.1 or 1.2 Fault is read into a
``Fault`` with its code reduced to the standard name (Client/Server, Sender/Receiver, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree
from zeep.wsse.username import UsernameToken

from exchange import xml
from exchange.egress.wsdl import SOAP11_ENV, SOAP12_ENV, SoapOperation
from exchange.envelope import Envelope
from exchange.errors import RejectedMessage

# The hub's SOAP header: the envelope fields a receiver may deduplicate or correlate on
# (the same values also travel as X-Exchange-* HTTP headers).
HUB_HEADER_NS = "urn:exchange-hub:envelope:1"
_HEADER_FIELDS = (
    ("Id", "id"),
    ("MessageId", "message_id"),
    ("CorrelationId", "correlation_id"),
    ("Sender", "sender"),
    ("MessageType", "message_type"),
)
_PLACEHOLDER_NS = "urn:exchange-hub:document-placeholder"
_PLACEHOLDER = b'<hubdoc:Document xmlns:hubdoc="' + _PLACEHOLDER_NS.encode() + b'"/>'
_UTF8_NAMES = {"UTF-8", "UTF8", "US-ASCII", "ASCII"}
_DETAIL_CHARS = 300
RETRIABLE_FAULTS = frozenset({"Server", "Receiver"})


class DocumentMismatch(ValueError):
    """The document cannot be the operation's body as configured (wrong root element)."""


class NotAnEnvelope(ValueError):
    """An answer that is not a SOAP envelope; the message says what it was instead."""


@dataclass(frozen=True, slots=True)
class Fault:
    """A SOAP Fault as the receiver sent it."""

    version: str  # "1.1" or "1.2"
    code: str  # Client, Server, Sender, Receiver, VersionMismatch, ... (or as written)
    raw_code: str  # the code as written, with its subcodes
    reason: str
    detail: str

    @property
    def retriable(self) -> bool:
        """The receiver failed (Server/Receiver): the same request may succeed later."""
        return self.code in RETRIABLE_FAULTS

    def describe(self) -> str:
        detail = f"; detail: {self.detail}" if self.detail else ""
        return f"SOAP {self.version} fault {self.raw_code}: {self.reason or '(no reason)'}{detail}"


@dataclass(frozen=True, slots=True)
class SoapAnswer:
    """A SOAP envelope answered: its Fault, or the name of its first body element."""

    fault: Fault | None
    body_element: str | None


def build_request(
    operation: SoapOperation,
    document: bytes,
    envelope: Envelope,
    attempt: int,
    credentials: tuple[str, str] | None = None,
) -> bytes:
    """The SOAP request (UTF-8 bytes) carrying ``document`` as ``operation`` wants it."""
    element, root = _document_element(document)
    if operation.part is None and root != operation.body:
        raise DocumentMismatch(
            f"operation {operation.operation!r} takes the body element {operation.body}, "
            f"but the document is {root}; set the endpoint's 'format' to the type the "
            "operation takes, or 'part' if the operation wraps the document"
        )
    ns = operation.envelope_ns
    soap = etree.Element(f"{{{ns}}}Envelope", nsmap={"soap-env": ns})
    header = etree.SubElement(soap, f"{{{ns}}}Header")
    hub = etree.SubElement(header, f"{{{HUB_HEADER_NS}}}Exchange", nsmap={"hub": HUB_HEADER_NS})
    for name, field in _HEADER_FIELDS:
        etree.SubElement(hub, f"{{{HUB_HEADER_NS}}}{name}").text = str(getattr(envelope, field))
    etree.SubElement(hub, f"{{{HUB_HEADER_NS}}}Attempt").text = str(attempt)
    holder = etree.SubElement(soap, f"{{{ns}}}Body")
    if operation.part is not None:
        holder = etree.SubElement(etree.SubElement(holder, operation.body), operation.part)
    etree.SubElement(holder, f"{{{_PLACEHOLDER_NS}}}Document", nsmap={"hubdoc": _PLACEHOLDER_NS})
    if credentials is not None:
        token = UsernameToken(*credentials)  # type: ignore[no-untyped-call]
        token.apply(soap, {})  # type: ignore[no-untyped-call]
    before, found, after = etree.tostring(soap, encoding="UTF-8", xml_declaration=True).partition(
        _PLACEHOLDER
    )
    if not found:  # cannot happen: the placeholder is ours and serializes one way
        raise RuntimeError("the SOAP request lost its document placeholder")
    return before + element + after


def _document_element(document: bytes) -> tuple[bytes, str]:
    """The root element's bytes, unchanged when the document is UTF-8, and its Clark name."""
    try:
        tree = xml.parse(document)
    except RejectedMessage as exc:
        raise DocumentMismatch(f"the document to send is not usable XML: {exc}") from exc
    root = tree.getroot()
    encoding = (tree.docinfo.encoding or "UTF-8").upper()
    if encoding in _UTF8_NAMES and root.getnext() is None:
        start = _after_prolog(document)
        if start is not None:
            return document[start:].rstrip(), str(root.tag)
    # Another encoding, or comments after the root: re-serialize the element as UTF-8
    # (the same infoset, not the same bytes).
    return etree.tostring(root, encoding="UTF-8"), str(root.tag)


def _after_prolog(data: bytes) -> int | None:
    """Offset of the root element's '<': past a BOM, the XML declaration, comments, PIs."""
    i = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    while True:
        while i < len(data) and data[i] in b" \t\r\n":
            i += 1
        if data.startswith(b"<?", i):
            end = data.find(b"?>", i)
            i = end + 2
        elif data.startswith(b"<!--", i):
            end = data.find(b"-->", i)
            i = end + 3
        else:
            break
        if end < 0:
            return None
    return i if data.startswith(b"<", i) and not data.startswith(b"<!", i) else None


def read_answer(body: bytes) -> SoapAnswer:
    """What a SOAP answer says; NotAnEnvelope saying what it is otherwise."""
    try:
        root = xml.parse(body).getroot()
    except RejectedMessage as exc:
        raise NotAnEnvelope(f"the answer is not XML ({exc.detail})") from exc
    tag = etree.QName(root)
    if tag.localname != "Envelope" or tag.namespace not in (SOAP11_ENV, SOAP12_ENV):
        raise NotAnEnvelope(f"the answer's root element is {root.tag}, not a SOAP Envelope")
    ns = tag.namespace
    soap_body = root.find(f"{{{ns}}}Body")
    if soap_body is None:
        raise NotAnEnvelope("the answer is a SOAP Envelope without a Body")
    first = next(iter(soap_body.iterchildren(etree.Element)), None)
    if first is None:
        return SoapAnswer(fault=None, body_element=None)
    if first.tag == f"{{{ns}}}Fault":
        fault = _fault_12(first) if ns == SOAP12_ENV else _fault_11(first)
        return SoapAnswer(fault=fault, body_element=None)
    return SoapAnswer(fault=None, body_element=str(first.tag))


def _fault_11(fault: etree._Element) -> Fault:
    raw = (fault.findtext("faultcode") or "").strip()
    prefix, _, local = raw.rpartition(":")
    namespace = fault.nsmap.get(prefix or None)
    base = local.split(".", 1)[0]  # "Client.Authentication" is a Client fault
    code = base if namespace in (SOAP11_ENV, None) else raw
    return Fault(
        version="1.1",
        code=code,
        raw_code=raw or "(no faultcode)",
        reason=_one_line(fault.findtext("faultstring") or ""),
        detail=_text(fault.find("detail")),
    )


def _fault_12(fault: etree._Element) -> Fault:
    ns = {"env": SOAP12_ENV}
    value = (fault.findtext("env:Code/env:Value", namespaces=ns) or "").strip()
    subcodes = [
        (value.text or "").strip()
        for value in fault.iterfind("env:Code//env:Subcode/env:Value", namespaces=ns)
    ]
    code = value.rpartition(":")[2]
    return Fault(
        version="1.2",
        code=code,
        raw_code=" / ".join([value or "(no code)", *subcodes]),
        reason=_one_line(fault.findtext("env:Reason/env:Text", namespaces=ns) or ""),
        detail=_text(fault.find("env:Detail", namespaces=ns)),
    )


def _text(element: etree._Element | None) -> str:
    """The text of a fault's detail on one line: the receiver's reasons, without markup."""
    if element is None:
        return ""
    return _one_line(" ".join(str(text) for text in element.itertext()))[:_DETAIL_CHARS]


def _one_line(text: str) -> str:
    return " ".join(text.split())
