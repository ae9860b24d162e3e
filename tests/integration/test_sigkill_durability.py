"""Kill the hub with SIGKILL while messages are in flight: every accepted message still
reaches every receiver after a restart (counted by distinct message id at the receiver)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from lxml import etree

from tests.harness import SAMR_SAMPLES, FakeDepartment, HubProcess, make_home, wait_for
from tests.integration.conftest import routes_for

ENDPOINTS = ("tax-bureau", "legal-entity-registry", "social-security")
MESSAGES = 600
KILL_AFTER = 200


def _sample_with_employees() -> bytes:
    ns = {"s": "urn:cn:gov:samr:enterprise-registration:1"}
    for path in sorted((SAMR_SAMPLES / "valid").glob("*.xml")):
        count = etree.parse(str(path)).xpath(
            "number(/s:EnterpriseRegistration/s:EmployeeCount)", namespaces=ns
        )
        if count > 0:
            return path.read_bytes()
    raise AssertionError("no SAMR sample with employees")


@pytest.mark.slow
def test_no_accepted_message_is_lost_when_the_hub_is_killed(
    dept: FakeDepartment, tmp_path: Path
) -> None:
    dept.reset()
    dept.delays["tax-bureau"] = 0.5  # a slow receiver keeps deliveries in flight at the kill
    hub = HubProcess(home=make_home(tmp_path, routes_for(dept)), data_dir=tmp_path / "var")
    key = hub.create_key("samr-reg")
    hub.start()
    body = _sample_with_employees()
    accepted: set[str] = set()
    lock = threading.Lock()
    killed = threading.Event()

    def send(n: int) -> None:
        if killed.is_set():
            return
        try:
            answer = httpx.post(
                f"{hub.url}/v1/messages",
                content=body,
                headers={
                    "Authorization": f"Bearer {key}",
                    "Content-Type": "application/xml",
                    "X-Exchange-Message-Id": f"kill-test-{n}",
                },
                timeout=10,
            )
        except httpx.HTTPError:
            return  # never acknowledged: the sender would retry; not counted
        if answer.status_code == 202:
            with lock:
                accepted.add(answer.json()["id"])
                if len(accepted) >= KILL_AFTER and not killed.is_set():
                    killed.set()
                    hub.kill()

    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(send, range(MESSAGES)))
        assert killed.is_set(), "the hub was never killed"
        in_flight = {name: len(accepted - dept.distinct_ids(name)) for name in ENDPOINTS}
        hub.start()

        def all_delivered() -> bool:
            return all(accepted <= dept.distinct_ids(name) for name in ENDPOINTS)

        wait_for(all_delivered, timeout=90, every=0.5)
    finally:
        hub.stop()
    duplicates = {
        name: len(dept.received[name]) - len(dept.distinct_ids(name)) for name in ENDPOINTS
    }
    print(f"accepted {len(accepted)}, undelivered at kill {in_flight}, duplicates {duplicates}")
    assert in_flight["tax-bureau"] > 0, "nothing was in flight: the kill proved nothing"
