"""A receiver that is down: its deliveries wait for the open circuit breaker, never past the
endpoint's retry.max_age, then are dead-lettered with a reason an operator can act on; one
that comes back in time gets them all (real hub processes, on both backbones)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import SAMR_SAMPLES, FakeDepartment, HubProcess, make_home, wait_for
from tests.integration.conftest import backbone_env, routes_for

QUICK_RETRY = "{attempts: 3, initial_backoff: 0.05, max_backoff: 0.2}"
SAMPLE = SAMR_SAMPLES / "valid" / "nanning-qinghe-data-technology.xml"
MESSAGES = 12


@pytest.fixture
def department() -> Iterator[FakeDepartment]:
    department = FakeDepartment().start()
    yield department
    department.stop()


class LateDepartment(FakeDepartment):
    """A department whose system may not have been started by the end of the test."""

    started = False

    def start(self) -> LateDepartment:
        super().start()
        self.started = True
        return self

    def stop(self) -> None:
        if self.started:
            super().stop()


@pytest.fixture
def tax_bureau() -> Iterator[FakeDepartment]:
    """The tax bureau's system, not started: its port refuses connections until it is."""
    down = LateDepartment()
    yield down
    down.stop()


def routes(department: FakeDepartment, tax_bureau: FakeDepartment, max_age: float) -> str:
    """Demo routes whose tax bureau is ``tax_bureau``, with many attempts to spare, a breaker
    that opens after two failures, and a short max age."""
    text = routes_for(department).replace(
        department.url("tax-bureau"), tax_bureau.url("tax-bureau"), 1
    )
    limits = (
        f"{{attempts: 50, initial_backoff: 0.05, max_backoff: 0.2, max_age: {max_age}}}\n"
        "    breaker: {failures: 2, cooldown: 0.5}"
    )
    return text.replace(QUICK_RETRY, limits, 1)


def send(hub: HubProcess, key: str, count: int) -> list[str]:
    ids = []
    for n in range(count):
        answer = httpx.post(
            f"{hub.url}/v1/messages",
            content=SAMPLE.read_bytes(),
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/xml",
                "X-Exchange-Message-Id": f"unreachable-{n}",
            },
        )
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    return ids


def tax_delivery(hub: HubProcess, key: str, hub_id: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{hub.url}/v1/messages/{hub_id}", headers={"Authorization": f"Bearer {key}"}
    )
    deliveries = answer.json().get("deliveries", []) if answer.status_code == 200 else []
    found = [d for d in deliveries if d.get("endpoint") == "tax-bureau"]
    return found[0] if found else {}


def statuses(hub: HubProcess, key: str, ids: list[str]) -> list[str]:
    return [tax_delivery(hub, key, hub_id).get("status", "") for hub_id in ids]


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["embedded", "kafka"])
def test_every_delivery_to_a_receiver_that_is_down_is_dead_lettered_by_its_max_age(
    request: pytest.FixtureRequest,
    backbone: str,
    department: FakeDepartment,
    tax_bureau: FakeDepartment,
    tmp_path: Path,
) -> None:
    home = make_home(tmp_path, routes(department, tax_bureau, max_age=2))
    hub = HubProcess(home=home, data_dir=tmp_path / "var", env=backbone_env(request, backbone))
    key = hub.create_key("samr-reg")
    operator = hub.create_key("ops", operator=True)
    hub.start()
    try:
        ids = send(hub, key, MESSAGES)
        # 50 attempts each at most 0.2 s apart would take 10 s; max_age ends them at 2 s.
        wait_for(lambda: statuses(hub, key, ids) == ["dead_lettered"] * MESSAGES, timeout=12)
        listed = httpx.get(
            f"{hub.url}/v1/dead-letters",
            params={"endpoint": "tax-bureau"},
            headers={"Authorization": f"Bearer {operator}"},
        ).json()["dead_letters"]
        assert sorted(d["message"] for d in listed) == sorted(ids)
        for dead in listed:
            assert "retry.max_age of 2 s" in dead["reason"], dead["reason"]
            assert "connection failed" in dead["reason"], dead["reason"]
            assert dead["reason"].endswith("replay once the receiver is back")
        assert any("circuit open since" in d["reason"] for d in listed)
        # The other receivers are not held up by the one that is down.
        assert len(department.received["social-security"]) == MESSAGES

        # Back up: a replay delivers, from attempt 1.
        tax_bureau.start()
        for dead in listed:
            replayed = httpx.post(
                f"{hub.url}/v1/dead-letters/{dead['id']}/replay",
                headers={"Authorization": f"Bearer {operator}"},
            )
            assert replayed.status_code == 202, replayed.text
        wait_for(lambda: statuses(hub, key, ids) == ["delivered"] * MESSAGES, timeout=20)
        got = tax_bureau.received["tax-bureau"]
        assert len(got) == MESSAGES
        assert {headers["x-exchange-attempt"] for headers, _body in got} == {"1"}
    finally:
        hub.stop()


@pytest.mark.slow
def test_a_receiver_back_before_max_age_gets_every_delivery(
    department: FakeDepartment, tax_bureau: FakeDepartment, tmp_path: Path
) -> None:
    home = make_home(tmp_path, routes(department, tax_bureau, max_age=30))
    hub = HubProcess(home=home, data_dir=tmp_path / "var")
    key = hub.create_key("samr-reg")
    hub.start()
    try:
        ids = send(hub, key, MESSAGES)
        # Refused meanwhile: the breaker opens and the deliveries wait for it.
        wait_for(lambda: "retrying" in statuses(hub, key, ids), timeout=10)
        tax_bureau.start()
        wait_for(lambda: statuses(hub, key, ids) == ["delivered"] * MESSAGES, timeout=10)
        assert len(tax_bureau.received["tax-bureau"]) == MESSAGES
    finally:
        hub.stop()
