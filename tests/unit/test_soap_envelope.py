"""Reading SOAP requests and writing SOAP answers, against the WSDL's own schema."""

from __future__ import annotations

import copy

import pytest
from lxml import etree

from exchange import xml
from exchange.errors import UnsupportedMediaType
from exchange.ingress import soap_service as service
from exchange.ingress.soap_envelope import (
    HUB,
    SOAP11,
    SOAP11_ENV,
    SOAP12,
    SOAP12_ENV,
    WSSE,
    MalformedEnvelope,
    decompose,
    fault,
    negotiate,
    take_document,
    username_token,
)

XSD = "http://www.w3.org/2001/XMLSchema"


@pytest.fixture(scope="module")
def contract() -> etree.XMLSchema:
    """The types of the served WSDL, as a schema the answers must be valid against."""
    wsdl = etree.fromstring(service.WsdlCache().get("http://hub.example:8000/soap"))
    types = wsdl.find(f".//{{{XSD}}}schema")
    assert types is not None
    schema = copy.deepcopy(types)
    # The WSDL declares the prefixes its type references use on its root; copy them down.
    holder = etree.Element(f"{{{XSD}}}schema", nsmap={**wsdl.nsmap, **schema.nsmap})
    holder.attrib.update(schema.attrib)
    holder.extend(list(schema))
    return etree.XMLSchema(holder)


@pytest.mark.parametrize(
    ("content_type", "soap_action", "version", "action"),
    [
        ("text/xml; charset=utf-8", '"Submit"', SOAP11, "Submit"),
        ("text/xml", '""', SOAP11, None),
        ("text/xml", None, SOAP11, None),
        ("application/xml", "GetStatus", SOAP11, "GetStatus"),
        ('application/soap+xml; charset=utf-8; action="Submit"', None, SOAP12, "Submit"),
        ("Application/SOAP+XML;action=GetStatus", "ignored", SOAP12, "GetStatus"),
        ("application/soap+xml", None, SOAP12, None),
    ],
)
def test_negotiate(
    content_type: str, soap_action: str | None, version: object, action: str | None
) -> None:
    assert negotiate(content_type, soap_action) == (version, action)


@pytest.mark.parametrize("content_type", [None, "", "application/json", "text/plain"])
def test_negotiate_refuses_what_is_not_soap(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType, match="text/xml"):
        negotiate(content_type, None)


def request(text: str) -> etree._Element:
    return xml.parse(text.encode()).getroot()


def test_decompose_finds_header_blocks_and_operation() -> None:
    found = decompose(
        request(
            f'<s:Envelope xmlns:s="{SOAP12_ENV}" xmlns:h="{HUB}"><!-- c -->'
            "<s:Header><h:A/><!-- c --><h:B/></s:Header>\n"
            "<s:Body> <h:Submit/> </s:Body></s:Envelope>"
        ),
        SOAP12,
    )
    assert [etree.QName(h).localname for h in found.headers] == ["A", "B"]
    assert found.operation.tag == f"{{{HUB}}}Submit" and found.version is SOAP12


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<Submit/>", "not a SOAP envelope"),
        ('<s:Envelope xmlns:s="urn:x"><s:Body/></s:Envelope>', "not a SOAP envelope namespace"),
        (f'<s:Envelope xmlns:s="{SOAP12_ENV}"><s:Body><a/></s:Body></s:Envelope>', "SOAP 1.2"),
        (f'<s:Envelope xmlns:s="{SOAP11_ENV}"/>', "holds nothing"),
        (f'<s:Envelope xmlns:s="{SOAP11_ENV}"><s:Header/></s:Envelope>', "holds ['Header']"),
        (
            f'<s:Envelope xmlns:s="{SOAP11_ENV}"><s:Body><a/></s:Body><s:Body/></s:Envelope>',
            "holds ['Body', 'Body']",
        ),
        (f'<s:Envelope xmlns:s="{SOAP11_ENV}"><s:Body/></s:Envelope>', "holds 0 elements"),
        (f'<s:Envelope xmlns:s="{SOAP11_ENV}"><s:Body><a/><b/></s:Body></s:Envelope>', "2 elem"),
    ],
)
def test_decompose_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(MalformedEnvelope, match=message.replace("[", r"\[")):
        decompose(request(text), SOAP11)


def security(token: str) -> list[etree._Element]:
    return [request(f'<wsse:Security xmlns:wsse="{WSSE}">{token}</wsse:Security>')]


def test_username_token_password_text() -> None:
    found = username_token(
        security(
            "<wsse:UsernameToken><wsse:Username> samr-reg </wsse:Username>"
            "<wsse:Password>key-1</wsse:Password></wsse:UsernameToken>"
        )
    )
    assert found is not None and (found.username, found.password) == ("samr-reg", "key-1")
    assert username_token([request("<other/>")]) is None


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "no UsernameToken"),
        ("<wsse:UsernameToken><wsse:Username>a</wsse:Username></wsse:UsernameToken>", "Password"),
        (
            '<wsse:UsernameToken><wsse:Password Type="x#PasswordDigest">d</wsse:Password>'
            "</wsse:UsernameToken>",
            "PasswordText",
        ),
    ],
)
def test_username_token_refusals(token: str, message: str) -> None:
    with pytest.raises(MalformedEnvelope, match=message):
        username_token(security(token))


def test_two_security_headers_are_refused() -> None:
    with pytest.raises(MalformedEnvelope, match="more than one"):
        username_token(security("") * 2)


def wrapped(document: str, declarations: str = "") -> etree._Element:
    root = request(
        f'<s:Envelope xmlns:s="{SOAP11_ENV}" xmlns:h="{HUB}" xmlns:wsse="{WSSE}" {declarations}>'
        f"<s:Body><h:Submit><h:document>\n  {document}\n</h:document></h:Submit></s:Body>"
        "</s:Envelope>"
    )
    found = root.find(f".//{{{HUB}}}document")
    assert found is not None
    return found


def test_take_document_keeps_the_document_and_drops_the_envelope_namespaces() -> None:
    text = (
        '<r:Reg xmlns:r="urn:r" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" a="1">'
        '\n  <r:x xsi:type="q:T">é中</r:x><!-- kept --><?pi kept?><u/>\n</r:Reg>'
    )
    taken = take_document(wrapped(text, 'xmlns:q="urn:q"'))
    # The prefix used only inside an attribute value still resolves; SOAP's and the hub's
    # namespaces are gone.
    assert (
        taken
        == (
            '<r:Reg xmlns:r="urn:r" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xmlns:q="urn:q" a="1">\n  <r:x xsi:type="q:T">é中</r:x><!-- kept --><?pi kept?>'
            "<u/>\n</r:Reg>"
        ).encode()
    )


def test_take_document_in_a_default_namespace_declared_on_the_envelope() -> None:
    taken = take_document(wrapped("<Reg><x/></Reg>", 'xmlns="urn:default"'))
    assert taken == b'<Reg xmlns="urn:default"><x/></Reg>'


def test_take_document_keeps_an_envelope_namespace_the_document_uses() -> None:
    taken = take_document(wrapped("<h:Odd><wsse:x/></h:Odd>"))
    root = etree.fromstring(taken)
    assert root.tag == f"{{{HUB}}}Odd" and root[0].tag == f"{{{WSSE}}}x"


@pytest.mark.parametrize(
    ("document", "message"),
    [("", "holds 0 elements"), ("<a/><b/>", "holds 2 elements"), ("text<a/>", "and text")],
)
def test_take_document_wants_exactly_one_element(document: str, message: str) -> None:
    with pytest.raises(MalformedEnvelope, match=message):
        take_document(wrapped(document))


def problem(errors: int) -> etree._Element:
    return service.problem_element(
        service.Problem(
            status=422,
            title="Invalid message",
            detail="2 problem(s); fix each one listed and send again",
            errors=[
                service.Error(message=f"problem {i}", line=i + 1, path="/*/*[2]", rule="xsd")
                for i in range(errors)
            ],
        )
    )


@pytest.mark.parametrize("errors", [0, 2])
def test_soap11_fault(contract: etree.XMLSchema, errors: int) -> None:
    body = fault(SOAP11, client=True, reason="Invalid message: fix it", detail=problem(errors))
    root = etree.fromstring(body)
    element = root.find(f"{{{SOAP11_ENV}}}Body/{{{SOAP11_ENV}}}Fault")
    assert element is not None
    assert [child.tag for child in element] == ["faultcode", "faultstring", "detail"]
    assert element.findtext("faultcode") == "soap:Client"
    assert root.nsmap["soap"] == SOAP11_ENV  # the prefix of the faultcode QName
    detail = element.find("detail")
    assert detail is not None and len(detail) == 1
    contract.assertValid(detail[0])
    assert len(detail[0].findall(f"{{{HUB}}}errors/{{{HUB}}}Error")) == errors


def test_soap12_fault(contract: etree.XMLSchema) -> None:
    body = fault(SOAP12, client=False, reason="Hub unavailable: later", detail=problem(1))
    root = etree.fromstring(body)
    element = root.find(f"{{{SOAP12_ENV}}}Body/{{{SOAP12_ENV}}}Fault")
    assert element is not None
    assert element.findtext(f"{{{SOAP12_ENV}}}Code/{{{SOAP12_ENV}}}Value") == "soap:Receiver"
    text = element.find(f"{{{SOAP12_ENV}}}Reason/{{{SOAP12_ENV}}}Text")
    assert text is not None and text.text == "Hub unavailable: later"
    assert text.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    detail = element.find(f"{{{SOAP12_ENV}}}Detail")
    assert detail is not None
    contract.assertValid(detail[0])


@pytest.mark.parametrize(("version", "env"), [("1.1", SOAP11_ENV), ("1.2", SOAP12_ENV)])
def test_answers_are_valid_against_the_wsdl(
    contract: etree.XMLSchema, version: str, env: str
) -> None:
    receipt = service.Receipt(
        id="h-1", messageId="m-1", correlationId="c-1", status="accepted", duplicate=True
    )
    status = service.MessageStatus(
        id="h-1",
        status="delivered",
        sizeBytes=10,
        trace=[service.Step(step="accepted", facts=[service.Fact(name="via", value="soap")])],
        deliveries=[service.DeliveryRecord(endpoint="tax", adapters=["a", "b"], attempts=1)],
    )
    for operation, value in ((service.SUBMIT, receipt), (service.GET_STATUS, status)):
        root = etree.fromstring(service.response(version, operation, value))
        assert root.tag == f"{{{env}}}Envelope"
        body = root.find(f"{{{env}}}Body")
        assert body is not None
        contract.assertValid(body[0])
    answered = etree.fromstring(service.response(version, service.SUBMIT, receipt))
    assert answered.findtext(f".//{{{HUB}}}duplicate") == "true"


def test_read_header_and_status_request() -> None:
    header = request(
        f'<h:ExchangeHeader xmlns:h="{HUB}"><h:sender>samr-reg</h:sender>'
        "<h:messageId>m-1</h:messageId><h:messageType>samr.EnterpriseRegistration</h:messageType>"
        "</h:ExchangeHeader>"
    )
    found = service.read_header(header)
    assert (found.sender, found.messageId, found.correlationId) == ("samr-reg", "m-1", None)
    assert found.messageType == "samr.EnterpriseRegistration"
    asked = request(f'<h:GetStatus xmlns:h="{HUB}"><h:id>h-9</h:id></h:GetStatus>')
    assert service.read_status_request(asked) == "h-9"


def test_wsdl_address_per_host() -> None:
    cache = service.WsdlCache()
    for address in ("http://a:1/soap", "https://b.example/soap", "http://a:1/soap"):
        wsdl = etree.fromstring(cache.get(address))
        found = wsdl.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
        assert found is not None and found.get("location") == address
    assert len(cache._documents) == 2
