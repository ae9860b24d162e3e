"""RuleReloader: a good set is swapped in, a bad one refused with the old set kept running."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from exchange.reload import (
    ReloadOutcome,
    RuleReloader,
    Watcher,
    fingerprint,
    read_report,
    write_report,
)
from exchange.ruleset import RuleSet, rule_files, rules_version

REPO = Path(__file__).resolve().parents[2]

EXTRA_ENDPOINT = """endpoints:
  - name: archive
    url: http://127.0.0.1:9/archive
    format: canonical.LegalEntity
routes:
  - name: registrations-to-archive
    match: {message_type: samr.EnterpriseRegistration}
    destinations:
      - endpoint: archive
        adapters: [samr-to-canonical]
"""

BROKEN = """routes:
  - name: to-nowhere
    match: {message_type: samr.EnterpriseRegistration}
    destinations:
      - endpoint: no-such-endpoint
"""


@dataclass
class Holder:
    rules: RuleSet


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    for name in ("schemas", "adapters", "routes"):
        shutil.copytree(REPO / name, folder / name)
    return folder


def reloader_for(home: Path, tmp_path: Path) -> tuple[Holder, RuleReloader]:
    holder = Holder(RuleSet.load(home))
    return holder, RuleReloader(holder, home, tmp_path / "var")


def test_version_is_the_files_digest(home: Path) -> None:
    version = RuleSet.load(home).version
    assert len(version) == 12 and int(version, 16) >= 0
    assert version == rules_version(home) == RuleSet.load(home).version
    # Adapter golden samples, caches and hidden files are not rules.
    adapter = next(p for p in (home / "adapters").iterdir() if p.is_dir())
    (adapter / "tests").mkdir(exist_ok=True)
    (adapter / "tests" / "new-case.xml").write_text("<x/>")
    (home / "routes" / ".routes.yaml.swp").write_text("editor")
    (home / "schemas" / "__pycache__").mkdir()
    (home / "schemas" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert rules_version(home) == version
    names = [p.relative_to(home).parts for p in rule_files(home)]
    assert not any(parts[0] == "adapters" and "tests" in parts[1:-1] for parts in names)
    (home / "routes" / "extra.yaml").write_text(EXTRA_ENDPOINT)
    assert rules_version(home) != version


async def test_a_good_set_is_swapped_in(home: Path, tmp_path: Path) -> None:
    holder, reloader = reloader_for(home, tmp_path)
    before = holder.rules
    (home / "routes" / "extra.yaml").write_text(EXTRA_ENDPOINT)
    outcome = await reloader.reload("test")
    assert outcome.problems == [] and outcome.changed and not outcome.refused
    assert holder.rules is not before and outcome.version == holder.rules.version
    assert "archive" in holder.rules.routing.endpoints
    assert "archive" not in before.routing.endpoints  # the old set itself is untouched
    assert outcome.processes == {os.getpid(): outcome.version}
    report = read_report(tmp_path / "var", os.getpid())
    assert report is not None and report["version"] == outcome.version


async def test_unchanged_files_are_not_a_change(home: Path, tmp_path: Path) -> None:
    holder, reloader = reloader_for(home, tmp_path)
    before = holder.rules
    outcome = await reloader.reload("nothing changed")
    assert outcome == ReloadOutcome(
        before.version, False, [], "nothing changed", {os.getpid(): before.version}
    )
    assert holder.rules is before


async def test_a_lint_error_is_refused_and_the_old_set_kept(home: Path, tmp_path: Path) -> None:
    holder, reloader = reloader_for(home, tmp_path)
    before = holder.rules
    (home / "routes" / "broken.yaml").write_text(BROKEN)
    outcome = await reloader.reload("broken")
    assert outcome.refused and not outcome.changed
    assert outcome.version == before.version and holder.rules is before
    assert any("broken.yaml" in line and "no-such-endpoint" in line for line in outcome.problems)
    assert outcome.as_json()["refused"] is True


async def test_a_schema_that_does_not_load_is_refused(home: Path, tmp_path: Path) -> None:
    holder, reloader = reloader_for(home, tmp_path)
    before = holder.rules
    manifest = next((home / "schemas").glob("*/*/manifest.yaml"))
    manifest.write_text("name: [unclosed\n")
    outcome = await reloader.reload("bad schema")
    assert outcome.refused and holder.rules is before
    assert any(manifest.parent.name in line or "manifest" in line for line in outcome.problems)


@dataclass
class FakeWorker:
    """A worker process stand-in: this test answers for it by writing its report."""

    pid: int
    alive: bool = True


async def test_the_serving_process_waits_for_each_worker(home: Path, tmp_path: Path) -> None:
    holder = Holder(RuleSet.load(home))
    data = tmp_path / "var"
    # The "worker" is this very process: its SIGHUP handler answers as a worker would.
    worker = FakeWorker(os.getpid())
    reloader = RuleReloader(holder, home, data, workers=lambda: [worker], child_wait=2.0)
    (home / "routes" / "extra.yaml").write_text(EXTRA_ENDPOINT)
    loop = asyncio.get_running_loop()
    answered = asyncio.Event()

    def answer() -> None:
        write_report(data, RuleSet.load(home))
        answered.set()

    loop.add_signal_handler(signal.SIGHUP, answer)
    try:
        outcome = await reloader.reload("with a worker")
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
    assert answered.is_set() and outcome.changed and not outcome.refused
    assert holder.rules.version == rules_version(home)

    # A worker that never answers: refused, and the front door keeps its set.
    silent = FakeWorker(os.getpid())
    (home / "routes" / "extra.yaml").unlink()
    reloader = RuleReloader(holder, home, data, workers=lambda: [silent], child_wait=0.3)
    kept = holder.rules
    loop.add_signal_handler(signal.SIGHUP, lambda: None)
    try:
        outcome = await reloader.reload("silent worker")
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
    assert outcome.refused and holder.rules is kept
    assert "did not report its rules" in outcome.problems[0]


async def test_the_watcher_reloads_once_the_files_settle(home: Path, tmp_path: Path) -> None:
    holder, reloader = reloader_for(home, tmp_path)
    before = fingerprint(home)
    stop = asyncio.Event()
    watching = asyncio.create_task(Watcher(reloader, home, every=0.05, settle=0.1).run(stop))
    await asyncio.sleep(0.1)
    (home / "routes" / "extra.yaml").write_text(EXTRA_ENDPOINT)
    assert fingerprint(home) != before
    for _ in range(100):
        if "archive" in holder.rules.routing.endpoints:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await watching
    assert "archive" in holder.rules.routing.endpoints
    assert reloader.last is not None and reloader.last.reason == "files changed"
