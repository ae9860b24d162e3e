"""SOAP requests read safely, and SOAP faults written, for the SOAP front door.

Everything here works on a tree that ``exchange.xml.parse`` has already checked (no DOCTYPE,
no entities, bounded size and depth): spyne's own parser never sees a sender's bytes.

- ``negotiate``: the SOAP version a client speaks (its Content-Type) and the action it names;
- ``decompose``: Envelope → header blocks and the one operation element of the Body;
- ``username_token``: the WS-Security UsernameToken, if any (PasswordText only);
- ``take_document``: the business document inside ``<document>``, as bytes of its own;
- ``fault``: a SOAP 1.1 or 1.2 fault envelope around a detail element.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from exchange.errors import RejectedMessage, UnsupportedMediaType

HUB = "urn:exchange-hub:soap:1"  # the hub's own elements: ExchangeHeader, Submit, ...
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PASSWORD_TEXT = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordText"
)
XML_NS = "http://www.w3.org/XML/1998/namespace"

# Envelope, Body, operation, <document>: how much deeper the document sits than its own root.
ENVELOPE_DEPTH = 4


class MalformedEnvelope(RejectedMessage):
    status = 400
    title = "Malformed SOAP envelope"


class UnknownOperation(RejectedMessage):
    status = 400
    title = "Unknown operation"


class WrongAction(RejectedMessage):
    status = 400
    title = "Wrong SOAPAction"


@dataclass(frozen=True, slots=True)
class SoapVersion:
    name: str
    envelope: str  # the Envelope's namespace
    media_type: str  # of requests and answers
    client_code: str  # the fault code for the sender's mistakes
    server_code: str  # ... and for the hub's failures
    client_http_status: int  # HTTP status of a client fault

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; charset=utf-8"


# SOAP 1.1 answers every fault with 500; the SOAP 1.2 HTTP binding answers Sender faults 400.
SOAP11 = SoapVersion("1.1", SOAP11_ENV, "text/xml", "Client", "Server", 500)
SOAP12 = SoapVersion("1.2", SOAP12_ENV, "application/soap+xml", "Sender", "Receiver", 400)
_BY_NAMESPACE = {SOAP11_ENV: SOAP11, SOAP12_ENV: SOAP12}
# Namespaces that belong to the envelope, not to the document (dropped from its root).
_ENVELOPE_NAMESPACES = frozenset({HUB, SOAP11_ENV, SOAP12_ENV, WSSE, WSU})


def _parameters(content_type: str) -> tuple[str, dict[str, str]]:
    media, *rest = content_type.split(";")
    params: dict[str, str] = {}
    for item in rest:
        name, _, value = item.partition("=")
        params[name.strip().lower()] = value.strip().strip('"')
    return media.strip().lower(), params


def negotiate(content_type: str | None, soap_action: str | None) -> tuple[SoapVersion, str | None]:
    """The SOAP version the client speaks and the action it names (None: none named).

    SOAP 1.1 comes as ``text/xml`` with a ``SOAPAction`` header, SOAP 1.2 as
    ``application/soap+xml`` with an ``action`` parameter. An empty action names none.
    """
    media, params = _parameters(content_type or "")
    if media == SOAP12.media_type:
        action = params.get("action")
        return SOAP12, action or None
    if media in (SOAP11.media_type, "application/xml"):
        action = (soap_action or "").strip().strip('"')
        return SOAP11, action or None
    raise UnsupportedMediaType(
        f"content type {content_type!r} is not SOAP; send SOAP 1.1 as 'text/xml' or SOAP 1.2 "
        "as 'application/soap+xml'"
    )


@dataclass(frozen=True, slots=True)
class SoapRequest:
    version: SoapVersion
    headers: list[etree._Element]  # the header blocks, in order
    operation: etree._Element  # the Body's one element


def _elements(parent: etree._Element) -> list[etree._Element]:
    # Comments and processing instructions are not content; text between blocks must be blank.
    return [child for child in parent if isinstance(child.tag, str)]


def decompose(root: etree._Element, version: SoapVersion) -> SoapRequest:
    """Split an envelope into header blocks and the operation, or say what is wrong with it."""
    if not isinstance(root.tag, str) or etree.QName(root).localname != "Envelope":
        raise MalformedEnvelope(
            f"the body is XML but not a SOAP envelope (its root is {root.tag}); wrap the request "
            f'in <Envelope xmlns="{version.envelope}">'
        )
    namespace = etree.QName(root).namespace
    sent = _BY_NAMESPACE.get(namespace or "")
    if sent is None:
        raise MalformedEnvelope(
            f"{namespace!r} is not a SOAP envelope namespace; use {SOAP11_ENV!r} (SOAP 1.1) "
            f"or {SOAP12_ENV!r} (SOAP 1.2)"
        )
    if sent is not version:
        raise MalformedEnvelope(
            f"a SOAP {sent.name} envelope sent as {version.media_type!r}; send SOAP {sent.name} "
            f"as {sent.media_type!r}"
        )
    children = _elements(root)
    names = [child.tag for child in children]
    header_tag, body_tag = f"{{{version.envelope}}}Header", f"{{{version.envelope}}}Body"
    if names not in ([body_tag], [header_tag, body_tag]):
        raise MalformedEnvelope(
            "an Envelope holds an optional Header and then one Body, and nothing else; "
            f"this one holds {[etree.QName(n).localname for n in names] or 'nothing'}"
        )
    body = children[-1]
    operations = _elements(body)
    if len(operations) != 1:
        raise MalformedEnvelope(
            f"the Body holds {len(operations)} elements; put exactly one operation element "
            "(Submit or GetStatus) in it"
        )
    headers = _elements(children[0]) if len(children) == 2 else []
    return SoapRequest(version, headers, operations[0])


@dataclass(frozen=True, slots=True)
class UsernameToken:
    username: str | None
    password: str


def username_token(headers: list[etree._Element]) -> UsernameToken | None:
    """The WS-Security UsernameToken among the header blocks; None if there is none."""
    securities = [h for h in headers if h.tag == f"{{{WSSE}}}Security"]
    if not securities:
        return None
    if len(securities) > 1:
        raise MalformedEnvelope("more than one wsse:Security header; send one")
    token = securities[0].find(f"{{{WSSE}}}UsernameToken")
    if token is None:
        raise MalformedEnvelope(
            "wsse:Security holds no UsernameToken; send wsse:UsernameToken with your sender "
            "code as Username and your key as Password"
        )
    password = token.find(f"{{{WSSE}}}Password")
    if password is None or not (password.text or "").strip():
        raise MalformedEnvelope("the UsernameToken has no Password; send your key as Password")
    kind = password.get("Type", PASSWORD_TEXT)
    if kind != PASSWORD_TEXT:
        # Only the keys' hashes are kept, so a digest of the key cannot be checked.
        raise MalformedEnvelope(
            f"password type {kind!r} is not supported; send the key as PasswordText "
            "(over HTTPS), or as 'Authorization: Bearer <key>'"
        )
    username = token.findtext(f"{{{WSSE}}}Username")
    return UsernameToken((username or "").strip() or None, (password.text or "").strip())


def take_document(wrapper: etree._Element) -> bytes:
    """The one element inside ``wrapper``, serialized on its own (it is moved out of the tree).

    Its in-scope namespace declarations come with it, so QNames in its content still resolve;
    those of the envelope, the hub and WS-Security are left behind unless the document uses them.
    """
    elements = _elements(wrapper)
    stray = (wrapper.text or "").strip() or any((e.tail or "").strip() for e in wrapper)
    if len(elements) != 1 or stray:
        raise MalformedEnvelope(
            f"<document> holds {len(elements)} elements"
            + (" and text" if stray else "")
            + "; put exactly one element, the business document, in it"
        )
    element = elements[0]
    nsmap: dict[str | None, str] = {
        prefix: uri for prefix, uri in element.nsmap.items() if uri not in _ENVELOPE_NAMESPACES
    }
    attrib = {str(name): str(value) for name, value in element.attrib.items()}
    # (lxml-stubs forget that the default namespace's prefix is None)
    document = etree.Element(element.tag, attrib=attrib, nsmap=nsmap)  # type: ignore[arg-type]
    document.text = element.text
    document.extend(list(element))  # lxml declares any namespace these still need
    return etree.tostring(document, encoding="UTF-8")


def fault(version: SoapVersion, *, client: bool, reason: str, detail: etree._Element) -> bytes:
    """A fault envelope: ``client`` says whose fault it is (the sender's or the hub's)."""
    env = version.envelope
    envelope = etree.Element(f"{{{env}}}Envelope", nsmap={"soap": env})
    body = etree.SubElement(envelope, f"{{{env}}}Body")
    element = etree.SubElement(body, f"{{{env}}}Fault")
    code = version.client_code if client else version.server_code
    if version is SOAP11:
        # SOAP 1.1's fault children are unqualified; faultcode is a QName in the envelope's
        # namespace.
        etree.SubElement(element, "faultcode").text = f"soap:{code}"
        etree.SubElement(element, "faultstring").text = reason
        etree.SubElement(element, "detail").append(detail)
    else:
        value = etree.SubElement(etree.SubElement(element, f"{{{env}}}Code"), f"{{{env}}}Value")
        value.text = f"soap:{code}"
        text = etree.SubElement(etree.SubElement(element, f"{{{env}}}Reason"), f"{{{env}}}Text")
        text.set(f"{{{XML_NS}}}lang", "en")
        text.text = reason
        etree.SubElement(element, f"{{{env}}}Detail").append(detail)
    return etree.tostring(envelope, encoding="UTF-8", xml_declaration=True)
