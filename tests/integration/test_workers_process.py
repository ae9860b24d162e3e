"""``serve --processes N``: the stages in worker processes, kept running, stopped with the hub."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

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


@pytest.mark.parametrize("processes", [2, 3])
def test_stages_run_in_worker_processes(
    dept: FakeDepartment, tmp_path: Path, processes: int
) -> None:
    dept.reset()
    home = make_home(tmp_path, routes_for(dept))
    hub = HubProcess(home=home, data_dir=tmp_path / "var", args=["--processes", str(processes)])
    key = hub.create_key("samr-reg")
    hub.start()
    try:
        wait_for(lambda: len(_worker_pids(home)) == processes - 1)
        _deliver_one(hub, key, dept)
    finally:
        hub.stop()
    assert hub.stopped_cleanly, hub.log()
    assert _worker_pids(home) == []


def test_one_process_runs_every_stage_itself(dept: FakeDepartment, tmp_path: Path) -> None:
    dept.reset()
    home = make_home(tmp_path, routes_for(dept))
    hub = HubProcess(home=home, data_dir=tmp_path / "var", args=["--processes", "1"])
    key = hub.create_key("samr-reg")
    hub.start()
    try:
        _deliver_one(hub, key, dept)
        assert _worker_pids(home) == []
    finally:
        hub.stop()
    assert hub.stopped_cleanly, hub.log()


def test_a_worker_process_that_dies_is_started_again(dept: FakeDepartment, tmp_path: Path) -> None:
    dept.reset()
    home = make_home(tmp_path, routes_for(dept))
    hub = HubProcess(home=home, data_dir=tmp_path / "var", args=["--processes", "2"])
    key = hub.create_key("samr-reg")
    hub.start()
    try:
        wait_for(lambda: len(_worker_pids(home)) == 1)
        (first,) = _worker_pids(home)
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: len(_worker_pids(home)) == 1 and _worker_pids(home) != [first])
        assert "exited with status -9; starting it again" in hub.log()
        _deliver_one(hub, key, dept)
    finally:
        hub.stop()
    assert hub.stopped_cleanly, hub.log()


def test_workers_stop_when_the_serving_process_is_killed(
    dept: FakeDepartment, tmp_path: Path
) -> None:
    home = make_home(tmp_path, routes_for(dept))
    hub = HubProcess(home=home, data_dir=tmp_path / "var", args=["--processes", "3"])
    hub.start()
    wait_for(lambda: len(_worker_pids(home)) == 2)
    hub.kill()
    deadline = time.monotonic() + 15
    while _worker_pids(home) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _worker_pids(home) == []


def test_the_default_is_one_process_on_one_core_and_three_on_more() -> None:
    probe = (
        "import os; from exchange.processes import default_processes as d; "
        "cores = sorted(os.sched_getaffinity(0)); seen = []\n"
        "for n in (1, 2, 3, 4):\n"
        "    if n <= len(cores):\n"
        "        os.sched_setaffinity(0, cores[:n]); seen.append(d())\n"
        "print(json.dumps(seen))"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + probe], capture_output=True, text=True, check=True
    )
    seen = json.loads(out.stdout)
    assert seen == [1, 3, 3, 3][: len(seen)]
