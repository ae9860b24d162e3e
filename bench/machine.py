"""What the benchmark reads from the machine: CPU time of processes, how idle the cores are.

The bench shares its cores with whatever else runs on the host. A figure taken while other
work ate half a core says little about the hub, so every run is preceded by a reading of
the machine's idle level, and comparisons between runs are refused when it was too low.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
# "Idle" for a process: under 5 % of a core over one 0.3 s look.
IDLE_LOOK_SECONDS = 0.3
IDLE_CORE_SHARE = 0.05


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) and of its live children
    (``serve`` runs its stages in worker processes), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    total = (utime + stime) / TICK
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text().split():
            with contextlib.suppress(OSError):
                total += cpu_seconds(int(child))
    return total


def _own_cpu(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _label(pid: int, root: int) -> str:
    """ "front door" for the serving process, "worker STAGES" for ``exchange worker`` children."""
    if pid == root:
        return "front door"
    words = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    if "worker" in words:
        stages = [word for word in words[words.index("worker") + 1 :] if word]
        return "worker " + "+".join(stages or ["all stages"])
    return f"child {pid}"


def cpu_by_process(root: int) -> dict[str, float]:
    """CPU seconds of the hub process and of each of its descendants, by what each runs
    (children that have exited are no longer counted: read it while they live)."""
    seen: dict[str, float] = {}
    pending = [root]
    while pending:
        pid = pending.pop()
        with contextlib.suppress(OSError):
            label = _label(pid, root)
            seen[label] = seen.get(label, 0.0) + _own_cpu(pid)
            for children in Path(f"/proc/{pid}/task").glob("*/children"):
                pending.extend(int(child) for child in children.read_text().split())
    return seen


async def wait_until_idle(cpu: Callable[[], float], limit: float = 15.0) -> float:
    """The process's CPU seconds once it has stopped working (< 5 % of a core for 0.3 s).

    The hub keeps indexing traces for a moment after the last delivery; that work is part
    of what a message costs, so the CPU is read only once it is done; and it is read again
    the same way before a run starts, so a run is measured from an idle hub to an idle hub.
    After ``limit`` seconds the last reading is returned, busy or not.
    """
    deadline = time.perf_counter() + limit
    last = cpu()
    while time.perf_counter() < deadline:
        await asyncio.sleep(IDLE_LOOK_SECONDS)
        now = cpu()
        if now - last < IDLE_LOOK_SECONDS * IDLE_CORE_SHARE:
            return now
        last = now
    return last


def _stat_jiffies() -> tuple[int, int]:
    """(all, idle) jiffies of every core together, from the first line of /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:9]]
    # user nice system idle iowait irq softirq steal; guest time is already in user.
    return sum(fields), fields[3] + fields[4]


@dataclass(frozen=True)
class IdleLevel:
    """How idle the machine was over ``seconds``, leaving out our own processes."""

    seconds: float
    cores: int
    others_cores: float  # cores' worth of CPU used by processes that are not ours
    ours_cores: float  # cores' worth used by the bench and its children
    idle_share: float  # 0..1, of the capacity our processes did not use

    def describe(self) -> str:
        return (
            f"{self.idle_share:.0%} idle over {self.seconds:.0f} s "
            f"(other processes {self.others_cores:.2f} of {self.cores} cores, "
            f"the bench's own {self.ours_cores:.2f})"
        )

    def quiet_enough(self, minimum: float) -> bool:
        return self.idle_share >= minimum


def idle_share(all_seconds: float, busy_seconds: float, ours_seconds: float) -> float:
    """The idle share of the CPU capacity our processes did not use.

    ``all_seconds`` is the capacity (window × cores), ``busy_seconds`` what every process
    used, ``ours_seconds`` what ours used; the rest of the busy time is the others'.
    """
    free_of_ours = all_seconds - ours_seconds
    if free_of_ours <= 0:
        return 0.0
    others = min(max(busy_seconds - ours_seconds, 0.0), free_of_ours)
    return 1.0 - others / free_of_ours


async def measure_idle(ours: Sequence[Callable[[], float]], seconds: float = 2.0) -> IdleLevel:
    """The machine's idle level over ``seconds``, from /proc/stat, without ``ours``' CPU.

    ``ours`` are CPU-second readers of our processes (this one included by the caller).
    """
    cores = os.cpu_count() or 1
    ours0 = sum(read() for read in ours)
    all0, idle0 = _stat_jiffies()
    await asyncio.sleep(seconds)
    all1, idle1 = _stat_jiffies()
    ours_used = sum(read() for read in ours) - ours0
    all_seconds = (all1 - all0) / TICK
    busy_seconds = all_seconds - (idle1 - idle0) / TICK
    share = idle_share(all_seconds, busy_seconds, ours_used)
    others = max(busy_seconds - ours_used, 0.0)
    return IdleLevel(seconds, cores, others / seconds, ours_used / seconds, share)


def pinned(args: list[str], cpus: str | None) -> list[str]:
    """``args`` under ``taskset -c cpus`` (it execs, so the pid stays the process's own;
    children and threads inherit the affinity)."""
    return args if cpus is None else ["taskset", "-c", cpus, *args]
