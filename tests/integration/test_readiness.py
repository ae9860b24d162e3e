"""``GET /readyz``: ready only while the backbone and the store can be reached; says which not."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.harness import FakeDepartment, HubProcess, make_home, wait_for
from tests.integration.conftest import routes_for
from tests.postgres import start_postgres


def readyz(hub: HubProcess) -> httpx.Response:
    return httpx.get(hub.url + "/readyz", timeout=15)


def test_not_ready_while_the_postgresql_store_is_stopped(
    dept: FakeDepartment, tmp_path: Path
) -> None:
    server = start_postgres()  # its own server: this test stops it
    try:
        hub = HubProcess(
            home=make_home(tmp_path, routes_for(dept)),
            data_dir=tmp_path / "var",
            env={"EXCHANGE_DATABASE_URL": server.url},
            args=["--processes", "1"],
        )
        hub.start()
        try:
            ready = readyz(hub)
            assert ready.status_code == 200, ready.text
            assert ready.json() == {"status": "ready", "backbone": "ok", "store": "ok"}
            server.stop()
            answer = readyz(hub)
            assert answer.status_code == 503, answer.text
            body = answer.json()
            assert body["status"] == "not ready"
            assert body["backbone"] == "ok"
            assert body["store"] != "ok"
            # liveness is another question: the process still answers
            assert httpx.get(hub.url + "/healthz", timeout=15).status_code in (200, 503)
        finally:
            hub.stop()
    finally:
        server.stop()


def test_not_ready_when_the_sqlite_files_are_gone(dept: FakeDepartment, tmp_path: Path) -> None:
    data = tmp_path / "var"
    hub = HubProcess(
        home=make_home(tmp_path, routes_for(dept)), data_dir=data, args=["--processes", "1"]
    )
    hub.start()
    try:
        assert readyz(hub).status_code == 200
        # moved away under the running hub: its open connections would write to a ghost
        (data / "store.db").rename(data / "store.db.moved")
        answer = readyz(hub)
        assert answer.status_code == 503
        assert answer.json()["backbone"] == "ok"
        assert "store.db is gone" in answer.json()["store"]
        (data / "store.db.moved").rename(data / "store.db")
        wait_for(lambda: readyz(hub).status_code == 200, timeout=10)

        (data / "backbone.db").rename(data / "backbone.db.moved")
        answer = readyz(hub)
        assert answer.status_code == 503
        assert answer.json()["store"] == "ok"
        assert "backbone.db is gone" in answer.json()["backbone"]
        (data / "backbone.db.moved").rename(data / "backbone.db")
        assert readyz(hub).status_code == 200
    finally:
        hub.stop()
