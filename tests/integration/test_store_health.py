"""/healthz counts only the messages in flight, and a hub deletes finished messages once the
store retention has passed (a hub process over real HTTP, a fake department).

Before, /healthz counted every message of the store by status (a read that grew with the
store), and the store kept every message for ever.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from tests.harness import SAMR_SAMPLES, FakeDepartment, HubProcess, make_home, wait_for

SAMR = "samr.EnterpriseRegistration"
VALID = sorted((SAMR_SAMPLES / "valid").glob("*.xml"))
INVALID = sorted((SAMR_SAMPLES / "invalid").glob("*.xml"))
STUCK = "stuck-behind-a-retry"  # the message id the department keeps answering 503


def routes(dept: FakeDepartment) -> str:
    # A minute before the second try: the failed message stays "failed" through the test.
    return f"""endpoints:
  - name: legal-entity-registry
    url: {dept.url("legal-entity-registry")}
    format: canonical.LegalEntity
    timeout: 2
    retry: {{attempts: 5, initial_backoff: 60, max_backoff: 60}}
routes:
  - name: registration
    match: {{message_type: {SAMR}, senders: [samr-reg]}}
    destinations:
      - endpoint: legal-entity-registry
        adapters: [samr-to-canonical]
senders:
  - code: samr-reg
    may_send: [{SAMR}]
"""


def refuse_stuck(request: web.Request, _n: int) -> web.Response | None:
    if request.headers.get("X-Exchange-Message-Id") == STUCK:
        return web.Response(status=503, text="busy")
    return None


@pytest.fixture(scope="module")
def dept() -> Iterator[FakeDepartment]:
    department = FakeDepartment().start()
    department.behaviours["legal-entity-registry"] = refuse_stuck
    yield department
    department.stop()


def start_hub(tmp: Path, dept: FakeDepartment, env: dict[str, str]) -> HubProcess:
    return HubProcess(home=make_home(tmp, routes(dept)), data_dir=tmp / "var", env=env).start()


def send(hub: HubProcess, key: str, body: bytes, message_id: str) -> httpx.Response:
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/xml",
        "X-Exchange-Message-Id": message_id,
    }
    return httpx.post(f"{hub.url}/v1/messages", content=body, headers=headers, timeout=10)


def status(hub: HubProcess, key: str, hub_id: str) -> str | None:
    answer = httpx.get(
        f"{hub.url}/v1/messages/{hub_id}", headers={"Authorization": f"Bearer {key}"}, timeout=5
    )
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    found: str = answer.json()["status"]
    return found


def stored(hub: HubProcess, hub_id: str) -> tuple[int, int, int]:
    """The message's rows in the hub's SQLite store: messages, steps, deliveries."""
    with contextlib.closing(sqlite3.connect(hub.data_dir / "store.db")) as db:
        found = [
            db.execute(f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", (hub_id,)).fetchone()[0]
            for table, column in (
                ("messages", "id"),
                ("steps", "message"),
                ("deliveries", "message"),
            )
        ]
    return found[0], found[1], found[2]


def send_three(hub: HubProcess, key: str) -> dict[str, str]:
    """One message delivered, one waiting for a retry, one refused; their hub ids."""
    ids = {}
    for name, body, message_id, code in (
        ("delivered", VALID[0].read_bytes(), "goes-through", 202),
        ("failed", VALID[1].read_bytes(), STUCK, 202),
        ("rejected", INVALID[0].read_bytes(), "refused", 422),
    ):
        answer = send(hub, key, body, message_id)
        assert answer.status_code == code, answer.text
        if code == 202:
            ids[name] = answer.json()["id"]
    return ids


def test_healthz_counts_only_the_messages_in_flight(dept: FakeDepartment, tmp_path: Path) -> None:
    hub = start_hub(tmp_path, dept, {})
    try:
        key = hub.create_key("samr-reg")
        ids = send_three(hub, key)
        wait_for(lambda: status(hub, key, ids["delivered"]) == "delivered", timeout=30)
        wait_for(lambda: status(hub, key, ids["failed"]) == "failed", timeout=30)

        health = httpx.get(f"{hub.url}/healthz", timeout=5).json()
    finally:
        hub.stop()

    rules = health.pop("rules")
    assert len(rules["version"]) == 12 and rules["processes"], rules
    assert health == {
        "status": "ok",
        "messages": {"accepted": 0, "routed": 0, "delivering": 0, "failed": 1},
        "index_failures": 0,
    }


def test_a_hub_deletes_finished_messages_once_the_store_retention_has_passed(
    dept: FakeDepartment, tmp_path: Path
) -> None:
    # 1 ms: every finished message is past it by the first pass, seconds after start.
    hub = start_hub(tmp_path, dept, {"EXCHANGE_STORE_RETENTION_MS": "1"})
    try:
        key = hub.create_key("samr-reg")
        ids = send_three(hub, key)
        wait_for(lambda: status(hub, key, ids["failed"]) == "failed", timeout=30)
        # In the store itself: the front door also answers from its memory of what it
        # accepted lately.
        wait_for(lambda: stored(hub, ids["delivered"]) == (0, 0, 0), timeout=30)

        messages, steps, deliveries = stored(hub, ids["failed"])
        assert (messages, deliveries) == (1, 1) and steps >= 3  # in flight: kept
        assert status(hub, key, ids["failed"]) == "failed"
        health = httpx.get(f"{hub.url}/healthz", timeout=5).json()
    finally:
        hub.stop()

    assert health["messages"]["failed"] == 1
    assert "store retention deleted" in hub.log()
