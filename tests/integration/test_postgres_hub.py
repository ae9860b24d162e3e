"""The whole hub with its store on a real PostgreSQL server (EXCHANGE_DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.harness import SAMR_SAMPLES, FakeDepartment, HubProcess, make_home, wait_for
from tests.integration.conftest import routes_for
from tests.postgres import PostgresServer


def test_hub_runs_on_postgresql(
    dept: FakeDepartment, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    dept.reset()
    url = postgres_server.create_database("hub_e2e")
    hub = HubProcess(
        home=make_home(tmp_path, routes_for(dept)),
        data_dir=tmp_path / "var",
        env={"EXCHANGE_DATABASE_URL": url},
    )
    key = hub.create_key("samr-reg")
    hub.start()
    try:
        sample = next((SAMR_SAMPLES / "valid").glob("*.xml")).read_bytes()
        answer = httpx.post(
            f"{hub.url}/v1/messages",
            content=sample,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/xml"},
        )
        assert answer.status_code == 202, answer.text
        hub_id = answer.json()["id"]
        auth = {"Authorization": f"Bearer {key}"}

        def delivered() -> bool:
            found = httpx.get(f"{hub.url}/v1/messages/{hub_id}", headers=auth).json()
            return bool(found.get("status") == "delivered")

        wait_for(delivered)
        rows = postgres_server.psql(
            f"SELECT status FROM messages WHERE id = '{hub_id}'", database="hub_e2e"
        )
        assert "delivered" in rows
    finally:
        hub.stop()
    assert hub.stopped_cleanly, hub.log()
