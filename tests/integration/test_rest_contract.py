"""The REST contract, end to end over real HTTP: a hub process, fake departments."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from lxml import etree

from tests.harness import REPO, SAMR_SAMPLES, FakeDepartment, HubProcess, wait_for

VALID = sorted((SAMR_SAMPLES / "valid").glob("*.xml"))
INVALID = sorted((SAMR_SAMPLES / "invalid").glob("*.xml"))
TAX_SAMPLE = sorted((REPO / "schemas" / "tax.TaxpayerRegistration").glob("*/samples/valid/*.xml"))[
    0
]


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


def post(hub: HubProcess, body: bytes, key: str | None, **headers: str) -> httpx.Response:
    sent = {"Content-Type": "application/xml", **headers}
    if key:
        sent["Authorization"] = f"Bearer {key}"
    return httpx.post(f"{hub.url}/v1/messages", content=body, headers=sent, timeout=10)


def trace(hub: HubProcess, hub_id: str, key: str) -> dict[str, Any]:
    response = httpx.get(
        f"{hub.url}/v1/messages/{hub_id}", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def wait_status(hub: HubProcess, hub_id: str, key: str, status: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def reached() -> bool:
        seen.update(trace(hub, hub_id, key))
        return bool(seen.get("status") == status)

    try:
        wait_for(reached, timeout=30)
    except AssertionError:
        raise AssertionError(f"message never reached {status}: {seen}") from None
    return seen


def with_employees(sample: Path) -> bool:
    ns = {"s": "urn:cn:gov:samr:enterprise-registration:1"}
    count = etree.parse(str(sample)).xpath(
        "number(/s:EnterpriseRegistration/s:EmployeeCount)", namespaces=ns
    )
    return bool(count > 0)


def test_valid_message_is_translated_and_delivered_to_every_receiver(
    hub: HubProcess, dept: FakeDepartment, keys: dict[str, str]
) -> None:
    sample = VALID[0]
    answer = post(hub, sample.read_bytes(), keys["samr"], **{"X-Exchange-Sender": "samr-reg"})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["status"] == "accepted"
    found = wait_status(hub, body["id"], keys["samr"], "delivered")
    assert {d["endpoint"] for d in found["deliveries"]} == {
        "tax-bureau",
        "legal-entity-registry",
        "social-security",
    }
    tax = next(d for d in found["deliveries"] if d["endpoint"] == "tax-bureau")
    assert tax["adapters"] == ["samr-to-canonical", "canonical-to-tax"]  # resolved automatically
    assert tax["attempts"] == 1 and tax["http_status"] == 200
    steps = [s["step"] for s in found["trace"]]
    assert steps[:2] == ["accepted", "routed"] and steps.count("delivered") == 3
    headers, document = dept.received["tax-bureau"][0]
    assert headers["x-exchange-id"] == body["id"]
    assert headers["x-exchange-message-id"] == body["message_id"]
    root = etree.fromstring(document)
    assert root.tag == "{urn:cn:gov:chinatax:taxpayer-registration:1}TaxpayerRegistration"
    registry_root = etree.fromstring(dept.received["legal-entity-registry"][0][1])
    assert registry_root.tag == "{urn:cn:gov:exchange:canonical:legal-entity:1}LegalEntity"


def test_resubmission_returns_the_first_answer_and_delivers_once(
    hub: HubProcess, dept: FakeDepartment, keys: dict[str, str]
) -> None:
    message_id = f"reg-{uuid.uuid4()}"
    body = VALID[1].read_bytes()
    first = post(hub, body, keys["samr"], **{"X-Exchange-Message-Id": message_id})
    second = post(hub, body, keys["samr"], **{"X-Exchange-Message-Id": message_id})
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert second.headers["X-Exchange-Duplicate"] == "true"
    wait_status(hub, first.json()["id"], keys["samr"], "delivered")
    third = post(hub, body, keys["samr"], **{"X-Exchange-Message-Id": message_id})
    assert third.json() == first.json()
    wait_for(lambda: len(dept.received.get("tax-bureau", [])) >= 1)
    assert len(dept.received["tax-bureau"]) == 1


@pytest.mark.parametrize(
    ("key", "headers", "status"),
    [
        (None, {}, 401),
        ("exk_not-a-real-key", {}, 401),
        ("samr", {"X-Exchange-Sender": "tax-system"}, 403),
    ],
)
def test_who_is_checked_first(
    hub: HubProcess, keys: dict[str, str], key: str | None, headers: dict[str, str], status: int
) -> None:
    answer = post(hub, VALID[0].read_bytes(), keys.get(key or "", key), **headers)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"]


def test_sender_not_allowed_to_send_the_type_is_forbidden(
    hub: HubProcess, keys: dict[str, str]
) -> None:
    answer = post(hub, VALID[0].read_bytes(), keys["tax"])
    assert answer.status_code == 403
    assert "may not send samr.EnterpriseRegistration" in answer.json()["detail"]


def test_wrong_content_type_is_415(hub: HubProcess, keys: dict[str, str]) -> None:
    answer = post(hub, b"{}", keys["samr"], **{"Content-Type": "application/json"})
    assert answer.status_code == 415


def test_oversized_body_is_413(hub: HubProcess, keys: dict[str, str]) -> None:
    big = b"<a>" + b"x" * (10 * 1024 * 1024 + 1) + b"</a>"
    assert post(hub, big, keys["samr"]).status_code == 413


def test_malformed_xml_is_400_with_line(hub: HubProcess, keys: dict[str, str]) -> None:
    answer = post(hub, b"<a>\n<b></a>", keys["samr"])
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["line"] == 2


@pytest.mark.parametrize("sample", INVALID, ids=lambda p: p.stem)
def test_invalid_samples_are_422_with_every_problem(
    hub: HubProcess, dept: FakeDepartment, keys: dict[str, str], sample: Path
) -> None:
    answer = post(hub, sample.read_bytes(), keys["samr"])
    assert answer.status_code == 422, answer.text
    errors = answer.json()["errors"]
    assert errors and all("message" in e and "line" in e and "rule" in e for e in errors)


def test_business_rule_errors_name_the_rule(hub: HubProcess, keys: dict[str, str]) -> None:
    rules = set()
    for sample in INVALID:
        answer = post(hub, sample.read_bytes(), keys["samr"])
        rules |= {e["rule"] for e in answer.json()["errors"]}
    assert {"uscc", "resident-id", "division-code", "xsd"} <= rules


def test_unknown_type_is_422(hub: HubProcess, keys: dict[str, str]) -> None:
    answer = post(hub, b'<x:Thing xmlns:x="urn:nobody"/>', keys["samr"])
    assert answer.status_code == 422
    assert answer.json()["title"] == "Unknown message type"


def test_valid_message_without_route_is_422(hub: HubProcess, keys: dict[str, str]) -> None:
    answer = post(hub, TAX_SAMPLE.read_bytes(), keys["tax"])
    assert answer.status_code == 422
    assert answer.json()["title"] == "No route"


def test_transient_failures_are_retried(
    hub: HubProcess, dept: FakeDepartment, keys: dict[str, str]
) -> None:
    dept.behaviours["tax-bureau"] = lambda _, n: web.Response(status=503) if n <= 2 else None
    answer = post(hub, VALID[0].read_bytes(), keys["samr"])
    found = wait_status(hub, answer.json()["id"], keys["samr"], "delivered")
    tax = next(d for d in found["deliveries"] if d["endpoint"] == "tax-bureau")
    assert tax["attempts"] == 3
    failed = [s for s in found["trace"] if s["step"] == "failed"]
    assert [s["attempt"] for s in failed] == [1, 2] and all(s["retrying"] for s in failed)


def test_rejected_delivery_is_dead_lettered_and_replayable(
    hub: HubProcess, dept: FakeDepartment, keys: dict[str, str]
) -> None:
    dept.behaviours["social-security"] = lambda _, n: web.Response(
        status=400, text="unit code unknown"
    )
    sample = next(s for s in VALID if with_employees(s))
    answer = post(hub, sample.read_bytes(), keys["samr"])
    hub_id = answer.json()["id"]
    found = wait_status(hub, hub_id, keys["samr"], "dead_lettered")
    social = next(d for d in found["deliveries"] if d["endpoint"] == "social-security")
    assert social["attempts"] == 1 and "unit code unknown" in social["last_error"]
    operator = {"Authorization": f"Bearer {keys['operator']}"}
    assert (
        httpx.get(
            f"{hub.url}/v1/dead-letters", headers={"Authorization": f"Bearer {keys['samr']}"}
        ).status_code
        == 403
    )

    def listed() -> list[dict[str, Any]]:
        rows = httpx.get(f"{hub.url}/v1/dead-letters", headers=operator).json()["dead_letters"]
        return [r for r in rows if r["message"] == hub_id]

    wait_for(lambda: bool(listed()))
    dead = listed()[0]
    assert dead["endpoint"] == "social-security" and "unit code unknown" in dead["reason"]
    del dept.behaviours["social-security"]
    replayed = httpx.post(f"{hub.url}/v1/dead-letters/{dead['id']}/replay", headers=operator)
    assert replayed.status_code == 202, replayed.text
    wait_status(hub, hub_id, keys["samr"], "delivered")
    assert dept.distinct_ids("social-security") == {hub_id}
    assert not listed()


def test_unknown_dead_letter_is_404(hub: HubProcess, keys: dict[str, str]) -> None:
    answer = httpx.post(
        f"{hub.url}/v1/dead-letters/nope/replay",
        headers={"Authorization": f"Bearer {keys['operator']}"},
    )
    assert answer.status_code == 404


def test_other_senders_cannot_read_a_trace(hub: HubProcess, keys: dict[str, str]) -> None:
    answer = post(hub, VALID[0].read_bytes(), keys["samr"])
    hub_id = answer.json()["id"]
    wait_status(hub, hub_id, keys["samr"], "delivered")
    other = httpx.get(
        f"{hub.url}/v1/messages/{hub_id}", headers={"Authorization": f"Bearer {keys['tax']}"}
    )
    assert other.status_code == 403
    assert trace(hub, hub_id, keys["operator"])["id"] == hub_id


def test_health_and_openapi(hub: HubProcess) -> None:
    assert httpx.get(f"{hub.url}/healthz").json()["status"] == "ok"
    spec = httpx.get(f"{hub.url}/openapi.json").json()
    assert (
        "/v1/messages" in spec["paths"]
        and "/v1/dead-letters/{dead_letter_id}/replay" in spec["paths"]
    )
    assert httpx.get(f"{hub.url}/docs").status_code == 200
