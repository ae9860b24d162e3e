"""``EXCHANGE_LOG_FORMAT=json``: every process writes one JSON object per line."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from aiohttp import web

from tests.harness import SAMR_SAMPLES, FakeDepartment, HubProcess, make_home, wait_for
from tests.integration.conftest import routes_for


def test_every_process_logs_json_lines_with_the_hub_id_and_stage(
    dept: FakeDepartment, tmp_path: Path
) -> None:
    dept.reset()
    dept.behaviours["social-security"] = lambda _request, _n: web.Response(status=400)
    hub = HubProcess(
        home=make_home(tmp_path, routes_for(dept)),
        data_dir=tmp_path / "var",
        env={"EXCHANGE_LOG_FORMAT": "json"},
        args=["--processes", "3"],
    )
    key = hub.create_key("samr-reg")
    hub.start()
    try:
        sample = sorted((SAMR_SAMPLES / "valid").glob("*.xml"))[0].read_bytes()
        answer = httpx.post(
            hub.url + "/v1/messages",
            content=sample,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/xml"},
        )
        assert answer.status_code == 202, answer.text
        hub_id = answer.json()["id"]
        wait_for(lambda: f'"hub_id": "{hub_id}"' in hub.log(), timeout=60)
    finally:
        hub.stop()
        dept.reset()
    lines = [line for line in hub.log().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # each line parses on its own
    for entry in entries:
        assert {"time", "level", "logger", "message", "process"} <= set(entry), entry
        assert entry["time"].endswith("Z")
    assert len({entry["process"] for entry in entries}) == 3  # front door and both workers
    about = [entry for entry in entries if entry.get("hub_id") == hub_id]
    assert about, "no line carries the message's id"
    dead = next(entry for entry in about if "dead-lettered" in entry["message"])
    assert dead["stage"] == "delivery"
    assert dead["level"] == "WARNING"
    assert "social-security" in dead["message"]


def test_the_default_stays_text(dept: FakeDepartment, tmp_path: Path) -> None:
    hub = HubProcess(
        home=make_home(tmp_path, routes_for(dept)),
        data_dir=tmp_path / "var",
        args=["--processes", "1"],
    )
    hub.start()
    hub.stop()
    lines = [line for line in hub.log().splitlines() if line.strip()]
    assert lines
    assert not any(line.startswith("{") for line in lines)
    assert any(" INFO exchange." in line for line in lines)
