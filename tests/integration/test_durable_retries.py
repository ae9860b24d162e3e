"""A delivery waiting for its next try survives a killed hub: after the restart it goes on
with the next attempt at its time, not from the first (on both backbones)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from tests.harness import SAMR_SAMPLES, FakeDepartment, HubProcess, make_home, wait_for
from tests.integration.conftest import backbone_env, routes_for

QUICK_RETRY = "{attempts: 3, initial_backoff: 0.05, max_backoff: 0.2}"
SLOW_RETRY = "{attempts: 6, initial_backoff: 2.0, multiplier: 1.0, max_backoff: 2.0, jitter: 0}"


@pytest.fixture
def department() -> Iterator[FakeDepartment]:
    department = FakeDepartment().start()
    yield department
    department.stop()


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["embedded", "kafka"])
def test_a_scheduled_retry_survives_a_killed_hub(
    request: pytest.FixtureRequest, backbone: str, department: FakeDepartment, tmp_path: Path
) -> None:
    routes = routes_for(department).replace(QUICK_RETRY, SLOW_RETRY, 1)  # tax-bureau's
    env = {**backbone_env(request, backbone), "EXCHANGE_KAFKA_SESSION_TIMEOUT_MS": "6000"}
    hub = HubProcess(home=make_home(tmp_path, routes), data_dir=tmp_path / "var", env=env)
    key = hub.create_key("samr-reg")
    failing = True
    department.behaviours["tax-bureau"] = lambda _request, _n: (
        web.Response(status=503, text="busy") if failing else None
    )
    hub.start()
    try:
        answer = httpx.post(
            f"{hub.url}/v1/messages",
            content=(SAMR_SAMPLES / "valid" / "nanning-qinghe-data-technology.xml").read_bytes(),
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/xml",
                "X-Exchange-Message-Id": "retry-across-restart",
            },
        )
        assert answer.status_code == 202, answer.text
        hub_id = answer.json()["id"]
        wait_for(lambda: department.calls["tax-bureau"] >= 2, timeout=30)
        # Attempt 2 failed; attempt 3 is scheduled on the backbone (2 s later). Kill now.
        wait_for(lambda: _trace_has(hub, key, hub_id, attempt=2), timeout=10)
        hub.kill()
        calls_at_kill = department.calls["tax-bureau"]
        failing = False
        hub.start()
        wait_for(lambda: bool(department.received.get("tax-bureau")), timeout=60)
        (headers, _body), *more = department.received["tax-bureau"]
        assert more == []
        assert headers["x-exchange-attempt"] == "3", "the retry schedule was lost at the kill"
        assert department.calls["tax-bureau"] == calls_at_kill + 1
        wait_for(lambda: _delivered_attempt(hub, key, hub_id) == 3, timeout=20)
    finally:
        hub.stop()


def _message(hub: HubProcess, key: str, hub_id: str) -> dict[str, object]:
    answer = httpx.get(
        f"{hub.url}/v1/messages/{hub_id}", headers={"Authorization": f"Bearer {key}"}
    )
    found: dict[str, object] = answer.json()
    return found


def _trace_has(hub: HubProcess, key: str, hub_id: str, *, attempt: int) -> bool:
    trace = _message(hub, key, hub_id).get("trace", [])
    assert isinstance(trace, list)
    return any(
        step.get("step") == "failed" and step.get("attempt") == attempt
        for step in trace
        if isinstance(step, dict)
    )


def _delivered_attempt(hub: HubProcess, key: str, hub_id: str) -> int | None:
    deliveries = _message(hub, key, hub_id).get("deliveries", [])
    assert isinstance(deliveries, list)
    for delivery in deliveries:
        if delivery.get("endpoint") == "tax-bureau" and delivery.get("status") == "delivered":
            attempts = delivery.get("attempts")
            return attempts if isinstance(attempts, int) else None
    return None
