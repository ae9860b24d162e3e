"""Hot reload: a new rule set loaded and linted beside the running one, then swapped in.

``RuleReloader.reload(reason)`` loads ``schemas/ adapters/ routes/`` again in a thread (the
running set keeps serving meanwhile), refuses it with the lint's errors or the ConfigError
when it is not good, and otherwise replaces ``hub.rules`` with one attribute assignment.
Every stage reads ``hub.current_rules()`` once per message, so a message is handled by
exactly one set: the one that was current when its stage picked it up.

With several processes the serving process decides.  It loads and lints first; on a good
set it signals each worker process (SIGHUP), each reloads from the same files and writes the
version it now runs to ``$EXCHANGE_DATA_DIR/rules/<pid>``; the serving process waits (bounded)
for every one to report that version before swapping its own front door's set, so a type the
front door accepts is one the router already knows.  A worker process that fails to load, or
loads other files, is logged as an error and named in the outcome's ``problems``; the front
door then keeps its old set (the next reload, or the watcher, tries again).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from exchange.errors import ConfigError
from exchange.ruleset import RULE_FOLDERS, RuleSet, rule_files, rules_version

log = logging.getLogger(__name__)

CHILD_WAIT_SECONDS = 10.0  # how long the serving process waits for each worker's report
POLL_SECONDS = 0.05
WATCH_SECONDS = 1.0  # how often the watcher looks at the rule folders
SETTLE_SECONDS = 0.5  # and how long they must stay unchanged before it reloads


@dataclass(frozen=True)
class ReloadOutcome:
    """What a reload did: the version now running, whether it changed, why it was refused.

    ``problems`` non-empty means refused: the old set keeps running everywhere it ran.
    ``processes`` maps each process's pid to the version it runs after the reload.
    """

    version: str
    changed: bool
    problems: list[str]
    reason: str = ""
    processes: dict[int, str] = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        return bool(self.problems)

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "changed": self.changed,
            "refused": self.refused,
            "problems": list(self.problems),
            "reason": self.reason,
            "processes": {str(pid): version for pid, version in self.processes.items()},
        }


class RulesHolder(Protocol):
    """What a reloader swaps: the hub (``exchange.hub.Hub``) or a test's stand-in."""

    rules: RuleSet


class Worker(Protocol):
    """A worker process the serving process signals (``exchange.processes.WorkerProcess``)."""

    @property
    def pid(self) -> int | None: ...

    @property
    def alive(self) -> bool: ...


def reports_folder(data_dir: Path) -> Path:
    """Where each process writes the version it runs (``rules/<pid>``, JSON)."""
    return data_dir / "rules"


def write_report(data_dir: Path, rules: RuleSet, problems: Sequence[str] = ()) -> None:
    """Record, for the serving process, the version this process now runs."""
    folder = reports_folder(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / str(os.getpid())
    report = {"version": rules.version, "problems": list(problems), "at": time.time()}
    # Written beside and renamed: the serving process never reads half a report.
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(report), encoding="utf-8")
    partial.replace(path)


def read_report(data_dir: Path, pid: int) -> dict[str, Any] | None:
    """A process's last report, None when it has written none (yet)."""
    try:
        report = json.loads((reports_folder(data_dir) / str(pid)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def forget_report(data_dir: Path, pid: int) -> None:
    """Remove a stopped process's report (its pid may be reused)."""
    (reports_folder(data_dir) / str(pid)).unlink(missing_ok=True)


class RuleReloader:
    """Loads, lints and swaps a hub's rule set; one reload at a time."""

    def __init__(
        self,
        hub: RulesHolder,
        home: Path,
        data_dir: Path,
        *,
        workers: Callable[[], Sequence[Worker]] = tuple,
        child_wait: float = CHILD_WAIT_SECONDS,
    ) -> None:
        self._hub = hub
        self._home = home
        self._data_dir = data_dir
        self._workers = workers
        self._child_wait = child_wait
        self._lock = asyncio.Lock()
        self.loaded_at = time.time()
        self.last: ReloadOutcome | None = None

    def attach_workers(self, workers: Callable[[], Sequence[Worker]]) -> None:
        """The serving process's worker processes, signalled on each good reload."""
        self._workers = workers

    def processes(self) -> dict[int, str]:
        """The version each process runs: this one's, and each live worker's last report."""
        found = {os.getpid(): self._hub.rules.version}
        for worker in self._workers():
            pid = worker.pid
            if pid is None or not worker.alive:
                continue
            report = read_report(self._data_dir, pid)
            found[pid] = str(report.get("version", "")) if report else "starting"
        return found

    async def reload(self, reason: str) -> ReloadOutcome:
        """Load the home's rules again and swap them in if they are good (see module doc)."""
        async with self._lock:
            outcome = await self._reload(reason)
        self.last = outcome
        if outcome.refused:
            log.error(
                "reload (%s) refused; still running rules %s: %s",
                reason,
                outcome.version,
                "; ".join(outcome.problems),
            )
        elif outcome.changed:
            log.info("reload (%s): now running rules %s", reason, outcome.version)
        else:
            log.info("reload (%s): rules %s unchanged", reason, outcome.version)
        return outcome

    async def _reload(self, reason: str) -> ReloadOutcome:
        running = self._hub.rules
        try:
            fresh = await asyncio.to_thread(RuleSet.load_linted, self._home)
        except ConfigError as exc:
            return ReloadOutcome(running.version, False, _lines(str(exc)), reason)
        processes, problems = await self._reload_workers(fresh.version)
        if problems:
            return ReloadOutcome(running.version, False, problems, reason, processes)
        changed = fresh.version != running.version
        if changed:
            self._hub.rules = fresh  # the swap: the next message any stage takes uses it
            self.loaded_at = time.time()
            write_report(self._data_dir, fresh)
        processes[os.getpid()] = self._hub.rules.version
        return ReloadOutcome(self._hub.rules.version, changed, [], reason, processes)

    async def _reload_workers(self, version: str) -> tuple[dict[int, str], list[str]]:
        """Signal each live worker process and wait for it to report ``version``."""
        pids = [w.pid for w in self._workers() if w.alive and w.pid is not None]
        before = {pid: _reported_at(self._data_dir, pid) for pid in pids}
        for pid in pids:
            try:
                os.kill(pid, signal.SIGHUP)
            except ProcessLookupError:
                continue  # it just exited; restarted, it loads the current files anyway
        deadline = time.monotonic() + self._child_wait
        processes: dict[int, str] = {}
        problems: list[str] = []
        waiting = set(pids)
        while waiting:
            for pid in sorted(waiting):
                report = read_report(self._data_dir, pid)
                if report is None or report.get("at", 0.0) == before[pid]:
                    continue  # not answered this signal yet
                waiting.discard(pid)
                processes[pid] = str(report.get("version", ""))
                if report.get("problems"):
                    problems.append(
                        f"process {pid} refused the rules: {'; '.join(report['problems'])}"
                    )
                elif processes[pid] != version:
                    problems.append(
                        f"process {pid} loaded rules {processes[pid]}, not {version}: the files"
                        " changed while reloading; reload again"
                    )
            if not waiting:
                break
            if time.monotonic() > deadline:
                problems.extend(
                    f"process {pid} did not report its rules within {self._child_wait} s;"
                    " see its log"
                    for pid in sorted(waiting)
                )
                break
            await asyncio.sleep(POLL_SECONDS)
        return processes, problems


class Reloadable(Protocol):
    rules: RuleSet
    reloader: RuleReloader


def rules_health(hub: Reloadable) -> dict[str, Any]:
    """What /healthz says of the rules: the version, when loaded, and each process's version."""
    return {
        "version": hub.rules.version,
        "loaded_at": datetime.fromtimestamp(hub.reloader.loaded_at, UTC).isoformat(
            timespec="seconds"
        ),
        "processes": {str(pid): version for pid, version in hub.reloader.processes().items()},
    }


class WorkerReloads:
    """In a worker process: reload on SIGHUP and report the outcome to the serving process."""

    def __init__(self, reloader: RuleReloader, data_dir: Path) -> None:
        self._reloader = reloader
        self._data_dir = data_dir
        self._tasks: set[asyncio.Task[None]] = set()

    def install(self, holder: RulesHolder, home: Path) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(holder))
        if rules_version(home) != holder.rules.version:
            # The files changed since this process loaded them (a signal then was ignored).
            self._spawn(holder)
        else:
            write_report(self._data_dir, holder.rules)

    def _spawn(self, holder: RulesHolder) -> None:
        task = asyncio.create_task(self._answer(holder))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, holder: RulesHolder) -> None:
        outcome = await self._reloader.reload("signalled by the serving process")
        write_report(self._data_dir, holder.rules, outcome.problems)


Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(home: Path) -> Fingerprint:
    """The rule files' names, mtimes and sizes: cheap to take every second."""
    found: list[tuple[str, int, int]] = []
    for path in rule_files(home):
        try:
            stat = path.stat()
        except OSError:
            continue  # removed while looking: the next look sees it gone
        found.append((path.relative_to(home).as_posix(), stat.st_mtime_ns, stat.st_size))
    # The folders themselves too: one created or removed is a change.
    found.extend((name, int((home / name).is_dir()), 0) for name in RULE_FOLDERS)
    return tuple(found)


class Watcher:
    """Reloads when the rule folders change (``EXCHANGE_WATCH``), once they have settled.

    An editor saving several files, or a ``git checkout``, writes for a moment; the watcher
    waits until the fingerprint holds still for ``settle`` seconds, then reloads once.
    """

    def __init__(
        self,
        reloader: RuleReloader,
        home: Path,
        *,
        every: float = WATCH_SECONDS,
        settle: float = SETTLE_SECONDS,
    ) -> None:
        self._reloader = reloader
        self._home = home
        self._every = every
        self._settle = settle

    async def run(self, stop: asyncio.Event) -> None:
        log.info("watching %s for changes to %s", self._home, ", ".join(RULE_FOLDERS))
        seen = await asyncio.to_thread(fingerprint, self._home)
        while not await _stopped(stop, self._every):
            now = await asyncio.to_thread(fingerprint, self._home)
            if now == seen:
                continue
            while not await _stopped(stop, self._settle):
                settled = await asyncio.to_thread(fingerprint, self._home)
                if settled == now:
                    break
                now = settled
            if stop.is_set():
                return
            seen = now
            try:
                await self._reloader.reload("files changed")
            except Exception:
                # The watcher outlives one bad reload; the outcome is logged by reload().
                log.exception("reload after a file change failed; watching on")


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()] or [text]


def _reported_at(data_dir: Path, pid: int) -> float | None:
    report = read_report(data_dir, pid)
    return None if report is None else report.get("at")
