"""The SOAP contract, end to end over real HTTP: a hub process, fake departments, and the
clients an outside system would use (zeep from the served WSDL, hand-written envelopes)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.wsse.username import UsernameToken

from tests.harness import REPO, SAMR_SAMPLES, FakeDepartment, HubProcess, wait_for
from tests.hostile import billion_laughs, external_dtd, external_entity
from tests.integration.test_hostile_xml import SECRET, Listener

HUB = "urn:exchange-hub:soap:1"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordText"
)
VALID = sorted((SAMR_SAMPLES / "valid").glob("*.xml"))
INVALID = sorted((SAMR_SAMPLES / "invalid").glob("*.xml"))
TAX = "{urn:cn:gov:chinatax:taxpayer-registration:1}TaxpayerRegistration"


@pytest.fixture(scope="module")
def keys(hub: HubProcess) -> dict[str, str]:
    return {
        "samr": hub.create_key("samr-reg"),
        "tax": hub.create_key("tax-system"),
        "operator": hub.create_key("ops", operator=True),
    }


@pytest.fixture(autouse=True)
def _fresh_department(dept: FakeDepartment) -> None:
    dept.reset()


# --------------------------------------------------------------------------- raw SOAP


def document(sample: Path = VALID[0]) -> bytes:
    """A sample as it goes into an envelope: without its XML declaration."""
    return etree.tostring(etree.parse(str(sample)).getroot(), encoding="UTF-8")


def envelope(
    body: bytes,
    *,
    version: str = "1.1",
    header: dict[str, str] | None = None,
    token: tuple[str, str] | None = None,
    operation: str = "Submit",
) -> bytes:
    """A hand-written request: ``body`` goes into <document> (Submit) or is the operation's
    content (any other operation)."""
    env = SOAP11 if version == "1.1" else SOAP12
    blocks = ""
    if header:
        fields = "".join(f"<h:{name}>{value}</h:{name}>" for name, value in header.items())
        blocks += f"<h:ExchangeHeader>{fields}</h:ExchangeHeader>"
    if token:
        blocks += (
            f'<wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken>'
            f"<wsse:Username>{token[0]}</wsse:Username>"
            f'<wsse:Password Type="{PASSWORD_TEXT}">{token[1]}</wsse:Password>'
            "</wsse:UsernameToken></wsse:Security>"
        )
    content = b"<h:document>" + body + b"</h:document>" if operation == "Submit" else body
    return (
        f'<s:Envelope xmlns:s="{env}" xmlns:h="{HUB}"><s:Header>{blocks}</s:Header>'
        f"<s:Body><h:{operation}>".encode()
        + content
        + f"</h:{operation}></s:Body></s:Envelope>".encode()
    )


def post(
    hub: HubProcess,
    body: bytes,
    *,
    version: str = "1.1",
    action: str | None = "Submit",
    bearer: str | None = None,
    content_type: str | None = None,
) -> httpx.Response:
    headers: dict[str, str] = {}
    if version == "1.1":
        headers["Content-Type"] = content_type or "text/xml; charset=utf-8"
        if action is not None:
            headers["SOAPAction"] = f'"{action}"'
    else:
        suffix = f'; action="{action}"' if action is not None else ""
        headers["Content-Type"] = content_type or f"application/soap+xml; charset=utf-8{suffix}"
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    return httpx.post(f"{hub.url}/soap", content=body, headers=headers, timeout=30)


def receipt(response: httpx.Response, version: str = "1.1") -> dict[str, str]:
    assert response.status_code == 200, response.text
    env = SOAP11 if version == "1.1" else SOAP12
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{env}}}Envelope"
    found = root.find(f"{{{env}}}Body/{{{HUB}}}SubmitResponse/{{{HUB}}}receipt")
    assert found is not None, response.text
    return {etree.QName(child).localname: child.text or "" for child in found}


def fault(response: httpx.Response, version: str = "1.1") -> dict[str, Any]:
    """The fault's code, reason and the problem in its detail (the REST problem's fields)."""
    assert response.headers["content-type"].startswith(
        "text/xml" if version == "1.1" else "application/soap+xml"
    )
    root = etree.fromstring(response.content)
    if version == "1.1":
        element = root.find(f"{{{SOAP11}}}Body/{{{SOAP11}}}Fault")
        assert element is not None, response.text
        code = element.findtext("faultcode")
        reason = element.findtext("faultstring")
        problem = element.find(f"detail/{{{HUB}}}Problem")
    else:
        element = root.find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault")
        assert element is not None, response.text
        code = element.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value")
        reason = element.findtext(f"{{{SOAP12}}}Reason/{{{SOAP12}}}Text")
        problem = element.find(f"{{{SOAP12}}}Detail/{{{HUB}}}Problem")
    assert problem is not None, response.text
    errors = [
        {
            etree.QName(field).localname: int(field.text)
            if field.tag.endswith("line")
            else field.text
            for field in error
        }
        for error in problem.iterfind(f"{{{HUB}}}errors/{{{HUB}}}Error")
    ]
    return {
        "code": code,
        "reason": reason,
        "status": int(problem.findtext(f"{{{HUB}}}status") or 0),
        "title": problem.findtext(f"{{{HUB}}}title"),
        "detail": problem.findtext(f"{{{HUB}}}detail"),
        "errors": errors,
    }


def client_fault(response: httpx.Response, status: int, version: str = "1.1") -> dict[str, Any]:
    """Assert a Client (1.1: HTTP 500) / Sender (1.2: HTTP 400) fault with the given status."""
    assert response.status_code == (500 if version == "1.1" else 400), response.text
    found = fault(response, version)
    assert found["code"] == ("soap:Client" if version == "1.1" else "soap:Sender")
    assert found["status"] == status, found
    assert found["detail"] and found["title"] in found["reason"]
    return found


def rest_status(hub: HubProcess, hub_id: str, key: str) -> dict[str, Any]:
    response = httpx.get(
        f"{hub.url}/v1/messages/{hub_id}", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def wait_delivered(hub: HubProcess, hub_id: str, key: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def delivered() -> bool:
        seen.update(rest_status(hub, hub_id, key))
        return bool(seen.get("status") == "delivered")

    wait_for(delivered, timeout=30)
    return seen


def received(dept: FakeDepartment, endpoint: str, hub_id: str) -> bytes:
    """What ``endpoint`` got for one message (other tests' messages may arrive meanwhile)."""
    wait_for(lambda: hub_id in dept.distinct_ids(endpoint))
    return next(b for h, b in dept.received[endpoint] if h["x-exchange-id"] == hub_id)


def canonical(data: bytes) -> bytes:
    return etree.tostring(etree.fromstring(data), method="c14n")


# --------------------------------------------------------------------------- zeep


def test_wsdl_address_is_the_url_the_client_used(hub: HubProcess) -> None:
    for host in (f"127.0.0.1:{hub.port}", f"localhost:{hub.port}"):
        response = httpx.get(f"http://{host}/soap?wsdl")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/xml")
        root = etree.fromstring(response.content)
        address = root.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
        assert address is not None and address.get("location") == f"http://{host}/soap"
    assert httpx.get(f"{hub.url}/soap").status_code == 405


def test_zeep_client_submits_and_the_translated_document_is_delivered(
    hub: HubProcess, dept: FakeDepartment, keys: dict[str, str]
) -> None:
    client = zeep.Client(f"{hub.url}/soap?wsdl", wsse=UsernameToken("samr-reg", keys["samr"]))
    message_id = f"zeep-{uuid.uuid4()}"
    answer = client.service.Submit(
        document={"_value_1": etree.fromstring(document())},
        _soapheaders={"ExchangeHeader": {"sender": "samr-reg", "messageId": message_id}},
    )
    assert answer.status == "accepted" and answer.messageId == message_id
    assert answer.duplicate is False

    def delivered() -> bool:
        return bool(client.service.GetStatus(id=answer.id).status == "delivered")

    wait_for(delivered)
    status = client.service.GetStatus(id=answer.id)
    assert status.sender == "samr-reg" and status.messageId == message_id
    deliveries = {d.endpoint: d for d in status.deliveries.Delivery}
    assert set(deliveries) == {"tax-bureau", "legal-entity-registry", "social-security"}
    assert deliveries["tax-bureau"].adapters.adapter == ["samr-to-canonical", "canonical-to-tax"]
    assert [s.step for s in status.trace.Step][:2] == ["accepted", "routed"]
    via_soap = received(dept, "tax-bureau", answer.id)
    assert etree.fromstring(via_soap).tag == TAX
    # The same document sent over REST arrives exactly the same: one code path.
    dept.reset()
    rest = httpx.post(
        f"{hub.url}/v1/messages",
        content=VALID[0].read_bytes(),
        headers={"Authorization": f"Bearer {keys['samr']}", "Content-Type": "application/xml"},
    )
    wait_delivered(hub, rest.json()["id"], keys["samr"])
    assert canonical(received(dept, "tax-bureau", rest.json()["id"])) == canonical(via_soap)


def test_zeep_client_gets_the_problem_in_the_fault_detail(
    hub: HubProcess, keys: dict[str, str]
) -> None:
    client = zeep.Client(f"{hub.url}/soap?wsdl", wsse=UsernameToken("samr-reg", keys["samr"]))
    with pytest.raises(Fault) as raised:
        client.service.Submit(document={"_value_1": etree.fromstring(document(INVALID[0]))})
    assert raised.value.code == "soap:Client"
    problem = raised.value.detail.find(f"{{{HUB}}}Problem")
    assert problem.findtext(f"{{{HUB}}}status") == "422"
    assert problem.findall(f"{{{HUB}}}errors/{{{HUB}}}Error")


# --------------------------------------------------------------------------- raw SOAP 1.1


def test_bearer_key_with_an_envelope_header(hub: HubProcess, keys: dict[str, str]) -> None:
    message_id = f"raw-{uuid.uuid4()}"
    body = envelope(document(), header={"messageId": message_id, "correlationId": "case-7"})
    answer = receipt(post(hub, body, bearer=keys["samr"]))
    assert answer["messageId"] == message_id and answer["correlationId"] == "case-7"
    assert answer["status"] == "accepted" and answer["duplicate"] == "false"
    assert rest_status(hub, answer["id"], keys["samr"])["message_type"] == (
        "samr.EnterpriseRegistration"
    )


@pytest.mark.parametrize("message_id", ["消息-1", "m" * 129])
def test_an_unusable_message_id_is_a_client_fault(
    hub: HubProcess, keys: dict[str, str], message_id: str
) -> None:
    body = envelope(document(), header={"messageId": message_id})
    found = client_fault(post(hub, body, bearer=keys["samr"]), 400)
    assert found["title"] == "Bad envelope" and "visible ASCII" in found["detail"]


def test_resubmission_returns_the_first_answer_and_delivers_once(
    hub: HubProcess, dept: FakeDepartment, keys: dict[str, str]
) -> None:
    body = envelope(
        document(VALID[1]),
        header={"messageId": f"again-{uuid.uuid4()}"},
        token=("samr-reg", keys["samr"]),
    )
    first, second = receipt(post(hub, body)), receipt(post(hub, body))
    assert second["id"] == first["id"] and second["duplicate"] == "true"
    wait_delivered(hub, first["id"], keys["samr"])
    assert receipt(post(hub, body))["id"] == first["id"]
    copies = [h for h, _ in dept.received["tax-bureau"] if h["x-exchange-id"] == first["id"]]
    assert len(copies) == 1


@pytest.mark.parametrize(
    ("token", "bearer", "header", "status"),
    [
        (None, None, {}, 401),
        (("samr-reg", "exk_not-a-real-key"), None, {}, 401),
        (None, "exk_not-a-real-key", {}, 401),
        (("samr-reg", "samr"), "tax", {}, 401),  # two different keys
        (("samr-reg", "samr"), None, {"sender": "tax-system"}, 403),
        (None, "samr", {"sender": "tax-system"}, 403),
        (("tax-system", "samr"), None, {}, 403),  # the username is not the key's sender
        (None, "tax", {}, 403),  # tax-system may not send registrations
    ],
)
def test_who_is_checked(
    hub: HubProcess,
    keys: dict[str, str],
    token: tuple[str, str] | None,
    bearer: str | None,
    header: dict[str, str],
    status: int,
) -> None:
    token = (token[0], keys.get(token[1], token[1])) if token else None
    body = envelope(document(), header=header, token=token)
    found = client_fault(post(hub, body, bearer=keys.get(bearer or "", bearer)), status)
    assert found["errors"] == []


def test_password_digest_is_refused_with_a_way_out(hub: HubProcess, keys: dict[str, str]) -> None:
    body = envelope(document(), token=("samr-reg", keys["samr"])).replace(
        b"#PasswordText", b"#PasswordDigest"
    )
    assert "PasswordText" in client_fault(post(hub, body), 400)["detail"]


@pytest.mark.parametrize("sample", INVALID, ids=lambda p: p.stem)
def test_invalid_document_has_every_problem_of_the_rest_answer(
    hub: HubProcess, keys: dict[str, str], sample: Path
) -> None:
    found = client_fault(post(hub, envelope(document(sample)), bearer=keys["samr"]), 422)
    rest = httpx.post(
        f"{hub.url}/v1/messages",
        content=document(sample),
        headers={"Authorization": f"Bearer {keys['samr']}", "Content-Type": "application/xml"},
    ).json()
    assert found["title"] == rest["title"] == "Invalid message"
    assert found["detail"] == rest["detail"]
    # Lines count from the document's root element, not from the envelope around it.
    assert found["errors"] == rest["errors"] and found["errors"]


def test_unknown_message_type(hub: HubProcess, keys: dict[str, str]) -> None:
    body = envelope(b'<x:Thing xmlns:x="urn:nobody"/>')
    assert client_fault(post(hub, body, bearer=keys["samr"]), 422)["title"] == (
        "Unknown message type"
    )


def test_no_route(hub: HubProcess, keys: dict[str, str]) -> None:
    sample = sorted((REPO / "schemas" / "tax.TaxpayerRegistration").glob("*/samples/valid/*.xml"))
    found = client_fault(post(hub, envelope(document(sample[0])), bearer=keys["tax"]), 422)
    assert found["title"] == "No route"


SUBMIT_OPEN = f'<s:Envelope xmlns:s="{SOAP11}" xmlns:h="{HUB}">'


@pytest.mark.parametrize(
    ("body", "title"),
    [
        (b"this is not XML", "Malformed XML"),
        (b"<a>\n<b></a>", "Malformed XML"),
        (b"", "Malformed XML"),
        (b"<Submit><document/></Submit>", "Malformed SOAP envelope"),
        (f'<s:Envelope xmlns:s="{SOAP11}"/>'.encode(), "Malformed SOAP envelope"),
        (
            f'<s:Envelope xmlns:s="{SOAP11}"><s:Header/></s:Envelope>'.encode(),
            "Malformed SOAP envelope",
        ),
        (f"{SUBMIT_OPEN}<s:Body/></s:Envelope>".encode(), "Malformed SOAP envelope"),
        (
            b'<s:Envelope xmlns:s="urn:not-soap"><s:Body><x/></s:Body></s:Envelope>',
            "Malformed SOAP envelope",
        ),
        (
            f"{SUBMIT_OPEN}<s:Body><h:Submit/></s:Body></s:Envelope>".encode(),
            "Malformed SOAP envelope",
        ),
        (envelope(b""), "Malformed SOAP envelope"),  # an empty <document>
        (envelope(b"<a/><b/>"), "Malformed SOAP envelope"),
        (envelope(b"text"), "Malformed SOAP envelope"),
        (envelope(b"", operation="Delete"), "Unknown operation"),
    ],
    ids=[
        "not-xml",
        "not-well-formed",
        "empty",
        "not-an-envelope",
        "no-body",
        "header-only",
        "empty-body",
        "unknown-envelope-namespace",
        "submit-without-document",
        "empty-document",
        "two-documents",
        "text-document",
        "unknown-operation",
    ],
)
def test_malformed_requests_are_client_faults(
    hub: HubProcess, keys: dict[str, str], body: bytes, title: str
) -> None:
    found = client_fault(post(hub, body, action=None, bearer=keys["samr"]), 400)
    assert found["title"] == title


def test_malformed_xml_gives_the_line(hub: HubProcess, keys: dict[str, str]) -> None:
    found = client_fault(post(hub, b"<a>\n<b></a>", bearer=keys["samr"]), 400)
    assert found["errors"][0]["line"] == 2 and found["errors"][0]["rule"] == "xml.well-formed"


def test_wrong_soap_action(hub: HubProcess, keys: dict[str, str]) -> None:
    response = post(hub, envelope(document()), action="GetStatus", bearer=keys["samr"])
    assert client_fault(response, 400)["title"] == "Wrong SOAPAction"
    # None, empty, or the operation's name are all fine.
    for action in (None, "", "Submit", f"{HUB}#Submit"):
        assert (
            post(hub, envelope(document()), action=action, bearer=keys["samr"]).status_code == 200
        )


def test_not_a_soap_content_type(hub: HubProcess, keys: dict[str, str]) -> None:
    response = post(hub, envelope(document()), content_type="application/json", bearer=keys["samr"])
    assert client_fault(response, 415)["title"] == "Unsupported media type"


def test_oversized_body(hub: HubProcess, keys: dict[str, str]) -> None:
    big = envelope(b"<a>" + b"x" * (10 * 1024 * 1024 + 64 * 1024) + b"</a>")
    assert client_fault(post(hub, big, bearer=keys["samr"]), 413)["title"] == "Payload too large"


@pytest.fixture(scope="module")
def listener() -> Any:
    found = Listener()
    yield found
    found.close()


def test_hostile_xml_is_refused_before_any_parser_expands_it(
    hub: HubProcess, keys: dict[str, str], listener: Listener, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    url = f"http://127.0.0.1:{listener.port}/evil.dtd"
    attacks = {
        "billion-laughs": billion_laughs(),
        "external-entity": external_entity(secret),
        "external-dtd": external_dtd(url),
    }
    for name, attack in attacks.items():
        # The DOCTYPE stays at the top; the entity is used inside the envelope's body.
        prolog, _, root = attack.partition(b"]>") if b"]>" in attack else (b"", b"", b"")
        if prolog:
            reference = root.split(b"<r>", 1)[1].split(b"</r>", 1)[0]
            request = prolog + b"]>" + envelope(b"<r>" + reference + b"</r>")
        else:
            request = attack.split(b"<r/>")[0] + envelope(b"<r/>")
        for version in ("1.1", "1.2"):
            if version == "1.2":
                request = request.replace(SOAP11.encode(), SOAP12.encode())
            response = post(hub, request, version=version, bearer=keys["samr"])
            found = client_fault(response, 400, version)
            assert found["title"] == "Unsafe XML", name
            assert SECRET not in response.text and "lollol" not in response.text, name
    assert listener.connections == 0
    assert httpx.get(f"{hub.url}/healthz").json()["status"] == "ok"
    assert receipt(post(hub, envelope(document()), bearer=keys["samr"]))["status"] == "accepted"


def test_deep_nesting_is_refused(hub: HubProcess, keys: dict[str, str]) -> None:
    deep = b"<a>" * 100 + b"</a>" * 100
    assert client_fault(post(hub, envelope(deep), bearer=keys["samr"]), 400)["title"] == (
        "Unsafe XML"
    )


# --------------------------------------------------------------------------- SOAP 1.2


def test_soap12_submit_and_faults(hub: HubProcess, keys: dict[str, str]) -> None:
    ok = post(hub, envelope(document(), version="1.2"), version="1.2", bearer=keys["samr"])
    assert ok.headers["content-type"].startswith("application/soap+xml")
    assert receipt(ok, "1.2")["status"] == "accepted"
    wrong_key = envelope(document(), version="1.2", token=("samr-reg", "exk_nope"))
    assert client_fault(post(hub, wrong_key, version="1.2"), 401, "1.2")["title"] == (
        "Unauthenticated"
    )
    invalid = post(
        hub, envelope(document(INVALID[0]), version="1.2"), version="1.2", bearer=keys["samr"]
    )
    assert client_fault(invalid, 422, "1.2")["errors"]
    wrong_action = post(
        hub,
        envelope(document(), version="1.2"),
        version="1.2",
        action="GetStatus",
        bearer=keys["samr"],
    )
    assert client_fault(wrong_action, 400, "1.2")["title"] == "Wrong SOAPAction"


def test_soap_version_must_match_the_content_type(hub: HubProcess, keys: dict[str, str]) -> None:
    as_12 = post(hub, envelope(document()), version="1.2", bearer=keys["samr"])
    assert "SOAP 1.1" in client_fault(as_12, 400, "1.2")["detail"]
    as_11 = post(hub, envelope(document(), version="1.2"), bearer=keys["samr"])
    assert "SOAP 1.2" in client_fault(as_11, 400)["detail"]


# --------------------------------------------------------------------------- GetStatus


def status_request(hub_id: str, version: str = "1.1", **auth: Any) -> bytes:
    return envelope(
        f"<h:id>{hub_id}</h:id>".encode(), operation="GetStatus", version=version, **auth
    )


def test_get_status_permissions_mirror_rest(hub: HubProcess, keys: dict[str, str]) -> None:
    body = envelope(document(), header={"messageId": f"status-{uuid.uuid4()}"})
    hub_id = receipt(post(hub, body, bearer=keys["samr"]))["id"]
    wait_delivered(hub, hub_id, keys["samr"])
    own = post(hub, status_request(hub_id), action="GetStatus", bearer=keys["samr"])
    assert own.status_code == 200
    status = etree.fromstring(own.content).find(f".//{{{HUB}}}message")
    assert status is not None and status.findtext(f"{{{HUB}}}status") == "delivered"
    assert len(status.findall(f"{{{HUB}}}deliveries/{{{HUB}}}Delivery")) == 3
    operator = post(hub, status_request(hub_id), action="GetStatus", bearer=keys["operator"])
    assert operator.status_code == 200
    other = post(hub, status_request(hub_id), action="GetStatus", bearer=keys["tax"])
    assert client_fault(other, 403)["title"] == "Forbidden"
    anonymous = post(hub, status_request(hub_id), action="GetStatus")
    assert client_fault(anonymous, 401)["title"] == "Unauthenticated"
    mismatch = status_request(hub_id, token=("tax-system", keys["samr"]))
    assert client_fault(post(hub, mismatch, action="GetStatus"), 403)["title"] == "Forbidden"
    missing = post(
        hub,
        status_request("no-such-id", "1.2"),
        version="1.2",
        action="GetStatus",
        bearer=keys["samr"],
    )
    assert client_fault(missing, 404, "1.2")["title"] == "Not found"
    no_id = envelope(b"", operation="GetStatus")
    assert client_fault(post(hub, no_id, action="GetStatus", bearer=keys["samr"]), 400)
