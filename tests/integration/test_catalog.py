"""The catalogue and subscriptions on a real hub: browse with a department's key, ask for a
type, have it approved, and receive the next message at the new endpoint."""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result
from lxml import etree

from exchange.cli import main
from tests.harness import SAMR_SAMPLES, FakeDepartment, HubProcess, make_home, wait_for
from tests.integration.conftest import SAMR, routes_for

pytestmark = pytest.mark.slow

HRSS_NS = "urn:cn:gov:mohrss:employer-registration:1"
SAMPLE = SAMR_SAMPLES / "valid" / "nanning-qinghe-data-technology.xml"


@pytest.fixture(scope="module")
def hub(dept: FakeDepartment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    tmp: Path = tmp_path_factory.mktemp("catalog")
    process = HubProcess(home=make_home(tmp, routes_for(dept)), data_dir=tmp / "var")
    process.start()
    yield process
    process.stop()
    assert process.stopped_cleanly, process.log()


@pytest.fixture(scope="module")
def keys(hub: HubProcess) -> dict[str, str]:
    return {
        "samr-reg": hub.create_key("samr-reg"),
        "hr-bureau": hub.create_key("hr-bureau"),
        "ops": hub.create_key("ops", operator=True),
    }


def _get(hub: HubProcess, path: str, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(hub.url + path, headers=headers, timeout=10)


def _post(hub: HubProcess, path: str, key: str, body: object = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(hub.url + path, json=body, headers=headers, timeout=60)


def test_browse_needs_a_key(hub: HubProcess, keys: dict[str, str]) -> None:
    for path in ("/v1/catalog", f"/v1/catalog/{SAMR}", f"/v1/catalog/{SAMR}/1.0/files/x.xsd"):
        refused = _get(hub, path, None)
        assert refused.status_code == 401, path
        assert refused.headers["content-type"] == "application/problem+json"
        assert _get(hub, path, "exk_not-a-key").status_code == 401


def test_a_department_browses_the_catalogue(hub: HubProcess, keys: dict[str, str]) -> None:
    listing = _get(hub, "/v1/catalog", keys["hr-bureau"])
    assert listing.status_code == 200
    types = {t["name"]: t for t in listing.json()["types"]}
    assert set(types) == {
        "canonical.LegalEntity",
        "hrss.EmployerRegistration",
        SAMR,
        "tax.TaxpayerRegistration",
    }
    assert types[SAMR]["owner"] == "samr"
    assert types[SAMR]["title"] == {"en": "Enterprise registration", "zh": "企业设立登记"}
    assert types[SAMR]["publishers"] == ["samr-reg"]

    detail = _get(hub, f"/v1/catalog/{SAMR}", keys["hr-bureau"]).json()
    subscribers = {s["endpoint"]: s for s in detail["subscribers"]}
    assert subscribers["tax-bureau"]["adapters"] == ["samr-to-canonical", "canonical-to-tax"]
    assert subscribers["social-security"]["adapters"] == ["samr-to-canonical", "canonical-to-hrss"]
    [version] = detail["versions"]
    assert "enterprise-registration.xsd" in version["xsd_files"]

    missing = _get(hub, "/v1/catalog/samr.EnterpriseRegistraton", keys["hr-bureau"])
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert "did you mean 'samr.EnterpriseRegistration'" in missing.json()["detail"]


def test_files_download_and_nothing_else(hub: HubProcess, keys: dict[str, str]) -> None:
    key = keys["hr-bureau"]
    xsd = _get(hub, f"/v1/catalog/{SAMR}/1.0/files/enterprise-registration.xsd", key)
    assert xsd.status_code == 200
    assert xsd.headers["content-type"].startswith("application/xml")
    assert etree.fromstring(xsd.content).tag == "{http://www.w3.org/2001/XMLSchema}schema"
    sample = _get(hub, f"/v1/catalog/{SAMR}/1.0/files/samples/valid/{SAMPLE.name}", key)
    assert sample.status_code == 200 and sample.content == SAMPLE.read_bytes()
    for path in (
        "manifest.yaml",  # in the folder, but not an XSD or a sample
        "../../tax.TaxpayerRegistration/1.0/taxpayer-registration.xsd",
        "%2e%2e/%2e%2e/%2e%2e/routes/routes.yaml",
        "/etc/passwd",
    ):
        refused = _get(hub, f"/v1/catalog/{SAMR}/1.0/files/{path}", key)
        assert refused.status_code == 404, (path, refused.text)
    assert _get(hub, f"/v1/catalog/{SAMR}/9.9/files/x.xsd", key).status_code == 404


def test_a_bad_subscription_is_refused_with_the_problem(
    hub: HubProcess, keys: dict[str, str]
) -> None:
    refused = _post(
        hub,
        "/v1/subscriptions",
        keys["hr-bureau"],
        {"message_type": SAMR, "endpoint": {"url": "file:///tmp/inbox"}},
    )
    assert refused.status_code == 422
    assert "must be an http:// or https:// URL" in refused.json()["detail"]
    approve_as_department = _post(hub, "/v1/subscriptions/1/approve", keys["hr-bureau"])
    assert approve_as_department.status_code == 403


def test_an_approved_subscription_delivers_the_next_message(
    hub: HubProcess, keys: dict[str, str], dept: FakeDepartment
) -> None:
    asked = _post(
        hub,
        "/v1/subscriptions",
        keys["hr-bureau"],
        {
            "message_type": SAMR,
            "format": "hrss.EmployerRegistration",
            "endpoint": {"kind": "rest", "url": dept.url("hr-inbox")},
        },
    )
    assert asked.status_code == 201, asked.text
    subscription = asked.json()
    assert subscription["status"] == "requested" and subscription["subscriber"] == "hr-bureau"
    sid = subscription["id"]
    assert _get(hub, f"/v1/subscriptions/{sid}", keys["samr-reg"]).status_code == 403
    own = _get(hub, "/v1/subscriptions", keys["hr-bureau"]).json()["subscriptions"]
    assert [s["id"] for s in own] == [sid]
    assert _get(hub, "/v1/subscriptions", keys["samr-reg"]).json()["subscriptions"] == []

    approved = _post(hub, f"/v1/subscriptions/{sid}/approve", keys["ops"])
    assert approved.status_code == 200, approved.text
    answer = approved.json()
    assert answer["status"] == "approved" and answer["decided_by"] == "ops"
    written = hub.home / answer["file"]
    assert written.parent == hub.home / "routes" / "subscriptions"
    text = written.read_text(encoding="utf-8")
    assert text.startswith(f"# Subscription {sid}: hr-bureau receives {SAMR}")
    assert yaml.safe_load(text)["endpoints"][0]["url"] == dept.url("hr-inbox")
    if importlib.util.find_spec("exchange.reload") is not None:
        assert answer["reload"] is not None  # applied on the running hub, no restart
    else:  # a hub without hot reload applies the file when it starts again
        assert answer["reload"] is None
        hub.stop()
        hub.start()

    sent = httpx.post(
        hub.url + "/v1/messages",
        content=SAMPLE.read_bytes(),
        headers={
            "Authorization": f"Bearer {keys['samr-reg']}",
            "Content-Type": "application/xml",
            "X-Exchange-Message-Id": str(uuid.uuid4()),
        },
        timeout=10,
    )
    assert sent.status_code == 202, sent.text
    wait_for(lambda: bool(dept.received.get("hr-inbox")), timeout=30)
    _, body = dept.received["hr-inbox"][0]
    assert etree.fromstring(body).tag == f"{{{HRSS_NS}}}EmployerRegistration"
    again = _post(hub, f"/v1/subscriptions/{sid}/approve", keys["ops"])
    assert again.status_code == 409


def test_the_subscriptions_command_talks_to_the_hub(hub: HubProcess, keys: dict[str, str]) -> None:
    def run(*args: str, key: str) -> Result:
        env = {"EXCHANGE_KEY": key}
        return CliRunner().invoke(main, ["subscriptions", *args, "--url", hub.url], env=env)

    requested = run(
        "request",
        "tax.TaxpayerRegistration",
        "--endpoint-url",
        "https://hr.example.gov.cn/tax-inbox",
        key=keys["hr-bureau"],
    )
    assert requested.exit_code == 0, requested.output
    sid = int(requested.output.split()[1])
    refused = run("request", "tax.Taxpayer", "--endpoint", "tax-bureau", key=keys["hr-bureau"])
    assert refused.exit_code == 1
    assert "did you mean 'tax.TaxpayerRegistration'" in refused.output
    not_operator = run("reject", str(sid), "--reason", "no", key=keys["hr-bureau"])
    assert not_operator.exit_code == 1 and "403" in not_operator.output
    rejected = run("reject", str(sid), "--reason", "ask the tax bureau", key=keys["ops"])
    assert rejected.exit_code == 0, rejected.output
    listing = run("list", key=keys["ops"])
    assert any(
        line.split()[:2] == [str(sid), "rejected"] for line in listing.output.splitlines()
    ), listing.output
