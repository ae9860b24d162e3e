"""SOAP delivery end to end: a hub process delivering to a spyne SOAP department."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zeep
from lxml import etree
from zeep.wsse.username import UsernameToken

from tests.harness import SAMR_SAMPLES, FakeDepartment, HubProcess, make_home, wait_for
from tests.soap_fakes import SOAP11, TAX_NS, SoapDepartment, fault_11

pytestmark = pytest.mark.slow
SAMR = "samr.EnterpriseRegistration"
SAMPLE = sorted((SAMR_SAMPLES / "valid").glob("*.xml"))[0]


def routes_yaml(rest: FakeDepartment) -> str:
    return f"""endpoints:
  - name: tax-bureau
    kind: soap
    wsdl: wsdl/tax-bureau.wsdl
    service: TaxBureau
    port: TaxBureau
    operation: RegisterTaxpayer
    format: tax.TaxpayerRegistration
    timeout: 5
    retry: {{attempts: 3, initial_backoff: 0.05, max_backoff: 0.2}}
  - name: legal-entity-registry
    url: {rest.url("legal-entity-registry")}
    format: canonical.LegalEntity
    timeout: 5
routes:
  - name: fan-out
    match: {{message_type: {SAMR}, senders: [samr-reg]}}
    destinations:
      - endpoint: tax-bureau
      - endpoint: legal-entity-registry
        adapters: [samr-to-canonical]
senders:
  - code: samr-reg
    may_send: [{SAMR}]
"""


@pytest.fixture(scope="module")
def soap_dept() -> Iterator[SoapDepartment]:
    department = SoapDepartment().start()
    yield department
    department.stop()


@pytest.fixture(scope="module")
def rest_dept() -> Iterator[FakeDepartment]:
    department = FakeDepartment().start()
    yield department
    department.stop()


@pytest.fixture(scope="module")
def soap_hub(
    soap_dept: SoapDepartment, rest_dept: FakeDepartment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubProcess]:
    tmp: Path = tmp_path_factory.mktemp("soap-hub")
    home = make_home(tmp, routes_yaml(rest_dept))
    (home / "routes" / "wsdl").mkdir()
    (home / "routes" / "wsdl" / "tax-bureau.wsdl").write_bytes(soap_dept.wsdl())
    hub = HubProcess(home=home, data_dir=tmp / "var").start()
    yield hub
    hub.stop()
    assert hub.stopped_cleanly, hub.log()


@pytest.fixture(scope="module")
def key(soap_hub: HubProcess) -> str:
    return soap_hub.create_key("samr-reg")


@pytest.fixture(autouse=True)
def _fresh(soap_dept: SoapDepartment, rest_dept: FakeDepartment) -> None:
    soap_dept.reset()
    rest_dept.reset()


def submit(hub: HubProcess, key: str, message_id: str) -> str:
    answer = httpx.post(
        f"{hub.url}/v1/messages",
        content=SAMPLE.read_bytes(),
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/xml",
            "X-Exchange-Message-Id": message_id,
        },
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    hub_id: str = answer.json()["id"]
    return hub_id


def wait_status(hub: HubProcess, key: str, hub_id: str, status: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def reached() -> bool:
        found = httpx.get(
            f"{hub.url}/v1/messages/{hub_id}", headers={"Authorization": f"Bearer {key}"}
        )
        seen.update(found.json())
        return bool(seen.get("status") == status)

    try:
        wait_for(reached, timeout=30)
    except AssertionError:
        raise AssertionError(f"message never reached {status}: {seen}") from None
    return seen


def test_delivered_to_the_soap_department_and_the_rest_receiver(
    soap_hub: HubProcess, soap_dept: SoapDepartment, rest_dept: FakeDepartment, key: str
) -> None:
    hub_id = submit(soap_hub, key, "soap-ok")
    found = wait_status(soap_hub, key, hub_id, "delivered")
    tax = next(d for d in found["deliveries"] if d["endpoint"] == "tax-bureau")
    assert tax["attempts"] == 1 and tax["http_status"] == 200
    assert tax["adapters"] == ["samr-to-canonical", "canonical-to-tax"]
    [request] = soap_dept.received
    assert request.headers["x-exchange-id"] == hub_id
    assert request.headers["soapaction"] == '"RegisterTaxpayer"'
    body = etree.fromstring(request.body).find(f"{{{SOAP11}}}Body")
    assert body is not None and body[0].tag == f"{{{TAX_NS}}}TaxpayerRegistration"
    assert body[0].findtext(f"{{{TAX_NS}}}TaxpayerIdentificationNumber")
    wait_for(lambda: len(rest_dept.received.get("legal-entity-registry", [])) == 1)


def test_submitted_over_soap_delivered_to_the_soap_and_the_rest_receivers(
    soap_hub: HubProcess, soap_dept: SoapDepartment, rest_dept: FakeDepartment, key: str
) -> None:
    client = zeep.Client(f"{soap_hub.url}/soap?wsdl", wsse=UsernameToken("samr-reg", key))
    answer = client.service.Submit(
        document={"_value_1": etree.fromstring(SAMPLE.read_bytes())},
        _soapheaders={"ExchangeHeader": {"sender": "samr-reg", "messageId": "soap-in-soap-out"}},
    )
    assert answer.status == "accepted"
    found = wait_status(soap_hub, key, answer.id, "delivered")
    assert {d["endpoint"] for d in found["deliveries"]} == {"tax-bureau", "legal-entity-registry"}
    [request] = soap_dept.received
    assert request.headers["x-exchange-id"] == answer.id
    body = etree.fromstring(request.body).find(f"{{{SOAP11}}}Body")
    assert body is not None and body[0].tag == f"{{{TAX_NS}}}TaxpayerRegistration"
    wait_for(lambda: len(rest_dept.received.get("legal-entity-registry", [])) == 1)


def test_a_client_fault_dead_letters_at_once_with_the_fault_in_the_trace(
    soap_hub: HubProcess, soap_dept: SoapDepartment, key: str
) -> None:
    soap_dept.behaviour = lambda n: fault_11(
        "Client", "TaxAuthority 14501030000 is unknown", "use the code of a district bureau"
    )
    hub_id = submit(soap_hub, key, "soap-client-fault")
    found = wait_status(soap_hub, key, hub_id, "dead_lettered")
    assert soap_dept.calls == 1  # not retried
    tax = next(d for d in found["deliveries"] if d["endpoint"] == "tax-bureau")
    assert tax["status"] == "dead_lettered" and tax["attempts"] == 1
    assert "TaxAuthority 14501030000 is unknown" in tax["last_error"]
    errors = " ".join(str(step.get("error", "")) for step in found["trace"])
    assert "fault s:Client: TaxAuthority 14501030000 is unknown" in errors
    assert "use the code of a district bureau" in errors


def test_a_server_fault_then_success_is_delivered_on_the_second_attempt(
    soap_hub: HubProcess, soap_dept: SoapDepartment, key: str
) -> None:
    soap_dept.behaviour = lambda n: fault_11("Server", "busy") if n == 1 else None
    hub_id = submit(soap_hub, key, "soap-server-fault")
    found = wait_status(soap_hub, key, hub_id, "delivered")
    tax = next(d for d in found["deliveries"] if d["endpoint"] == "tax-bureau")
    assert tax["attempts"] == 2 and tax["http_status"] == 200
    failed = [s for s in found["trace"] if s["step"] == "failed"]
    assert len(failed) == 1 and "fault s:Server: busy" in failed[0]["error"]
    assert soap_dept.calls == 2
