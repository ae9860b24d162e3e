"""``serve --workers-process``: the stages in a second process, stopped with the first."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from tests.harness import SAMR_SAMPLES, FakeDepartment, HubProcess, make_home, wait_for
from tests.integration.conftest import routes_for


def _worker_pids(home: Path) -> list[int]:
    found = subprocess.run(["pgrep", "-f", "exchange worker"], capture_output=True, text=True)
    pids = []
    for pid in found.stdout.split():
        environ = Path(f"/proc/{pid}/environ")
        try:
            if str(home).encode() in environ.read_bytes():
                pids.append(int(pid))
        except OSError:
            continue
    return pids


def _deliver_one(hub: HubProcess, key: str, dept: FakeDepartment) -> None:
    sample = next((SAMR_SAMPLES / "valid").glob("*.xml")).read_bytes()
    answer = httpx.post(
        f"{hub.url}/v1/messages",
        content=sample,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/xml"},
    )
    assert answer.status_code == 202, answer.text
    wait_for(lambda: answer.json()["id"] in dept.distinct_ids("tax-bureau"))


def test_stages_run_in_a_second_process(dept: FakeDepartment, tmp_path: Path) -> None:
    dept.reset()
    home = make_home(tmp_path, routes_for(dept))
    hub = HubProcess(home=home, data_dir=tmp_path / "var", args=["--workers-process"])
    key = hub.create_key("samr-reg")
    hub.start()
    try:
        wait_for(lambda: len(_worker_pids(home)) == 1)
        _deliver_one(hub, key, dept)
    finally:
        hub.stop()
    assert hub.stopped_cleanly, hub.log()
    assert _worker_pids(home) == []


def test_workers_stop_when_the_serving_process_is_killed(
    dept: FakeDepartment, tmp_path: Path
) -> None:
    home = make_home(tmp_path, routes_for(dept))
    hub = HubProcess(home=home, data_dir=tmp_path / "var", args=["--workers-process"])
    hub.start()
    wait_for(lambda: len(_worker_pids(home)) == 1)
    hub.kill()
    deadline = time.monotonic() + 15
    while _worker_pids(home) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _worker_pids(home) == []
