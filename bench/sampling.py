"""What a soak reads, sample after sample, and how it compares the start with the end.

The readers look at the machine from outside the hub, as an operator would: the bytes of
every file in the data folder (SQLite's ``-wal`` and ``-shm`` included: they are disk the
hub uses), and the resident memory of the hub's process tree from /proc.  ``compare`` turns
the rows taken after retention started into the soak's verdicts: a hub that keeps up with its
own deletions shows a data folder that stops growing, and memory, CPU per message and read
latency that do not drift upwards.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.e2e import percentile

# Tolerances of the verdicts (a ratio is last third / first third after retention started).
FLAT_RSS = 1.10  # memory is steady: a leak shows as a climb, noise stays well inside 10 %
FLAT_RATIO = 1.25  # CPU and latency on a shared machine wander more
LEVELLED_FRACTION = 0.25  # growth per message in the last third, against before retention


# --------------------------------------------------------------------------- readers


def folder_files(folder: Path) -> dict[str, int]:
    """Bytes of every file under ``folder``, by path relative to it."""
    sizes: dict[str, int] = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            # SQLite's -journal files come and go: one may vanish between listing and stat.
            with contextlib.suppress(FileNotFoundError):
                sizes[str(path.relative_to(folder))] = path.stat().st_size
    return sizes


def folder_bytes(folder: Path) -> int:
    return sum(folder_files(folder).values())


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (of every one of its threads)."""
    found: list[int] = []
    for listing in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in listing.read_text().split()]
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    tree, waiting = [], [pid]
    while waiting:
        current = waiting.pop()
        tree.append(current)
        waiting += children(current)
    return tree


def rss_bytes(pid: int) -> int:
    """Resident memory of one process (VmRSS of /proc/<pid>/status); 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024  # given in kB
    return 0  # a zombie has no VmRSS line


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, summed."""
    return sum(rss_bytes(member) for member in process_tree(pid))


def command(pid: int) -> str:
    """A process's command line without the interpreter: ``-m exchange worker router``."""
    try:
        parts = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return f"process {pid}"
    return " ".join(part for part in parts[1:] if part) or f"process {pid}"


def tree_rss_by_process(pid: int) -> dict[str, int]:
    """Resident memory of ``pid`` and each descendant, by ``pid: command``."""
    return {f"{member} {command(member)}": rss_bytes(member) for member in process_tree(pid)}


def wal_bytes(files: dict[str, int]) -> int:
    """The SQLite write-ahead logs among ``folder_files``: they keep their largest size."""
    return sum(size for name, size in files.items() if name.endswith("-wal"))


# --------------------------------------------------------------------------- rows


# What ``GET /v1/messages/{id}`` said about a message the receiver already had.
STORED = "s"  # 200 with its trace: the store has it
REMEMBERED = "m"  # 200, status accepted and no trace: the front door's memory of recent ids
GONE = "g"  # 404: neither has it (store retention deleted it, or it is not indexed yet)


@dataclass
class Probes:
    """Timed reads during one sample: ``GET /v1/messages/{id}`` and ``GET /healthz``."""

    message_ms: list[float] = field(default_factory=list)  # every answer, 404s included
    health_ms: list[float] = field(default_factory=list)
    early: dict[str, int] = field(default_factory=dict)  # ids of the run's first seconds
    recent: dict[str, int] = field(default_factory=dict)  # ids of the last seconds
    errors: list[str] = field(default_factory=list)  # anything but 200/404, or no answer

    def count(self, early: bool, answer: str) -> None:
        seen = self.early if early else self.recent
        seen[answer] = seen.get(answer, 0) + 1


def _answers(seen: dict[str, int]) -> str:
    """``{"s": 3, "g": 2}`` as ``3s2g``; ``-`` for none."""
    return "".join(f"{seen[kind]}{kind}" for kind in (STORED, REMEMBERED, GONE) if kind in seen)


@dataclass
class Row:
    """One sample: levels at its end, and what happened since the previous one."""

    elapsed: float  # seconds since the load started
    accepted: int  # messages answered 202 so far
    delivered: int  # distinct ids the receiver has counted so far
    data_bytes: int
    wal_bytes: int  # of which SQLite's -wal files
    rss_bytes: int
    hub_cpu: float  # hub process tree CPU seconds so far
    cpu_ms_per_msg: float | None  # over the interval; None if nothing was delivered in it
    probes: Probes
    idle_share: float  # the machine's idle level over the interval, without our processes
    sending: bool  # the load was still being sent when the sample ended

    def line(self) -> str:
        msg, health = self.probes.message_ms, self.probes.health_ms
        cpu = "-" if self.cpu_ms_per_msg is None else f"{self.cpu_ms_per_msg:.3f}"
        early, recent = _answers(self.probes.early) or "-", _answers(self.probes.recent) or "-"
        return (
            f"{self.elapsed:7.0f} {self.accepted:>9,} {self.delivered:>9,} "
            f"{self.data_bytes / 1e6:>9.1f} {self.wal_bytes / 1e6:>7.1f} "
            f"{self.rss_bytes / 1e6:>7.1f} {cpu:>8} "
            f"{_p(msg, 50):>7} {_p(msg, 99):>7} {early:>6} {recent:>6} "
            f"{_p(health, 50):>7} {_p(health, 99):>7} {self.idle_share:>5.0%}"
        )


HEADER = (
    f"{'elapsed':>7} {'accepted':>9} {'delivered':>9} {'data MB':>9} {'-wal':>7} {'RSS MB':>7} "
    f"{'CPU ms':>8} {'msg p50':>7} {'p99':>7} {'early':>6} {'recent':>6} {'hz p50':>7} "
    f"{'p99':>7} {'idle':>5}\n"
    f"{'s':>7} {'':>9} {'':>9} {'':>9} {'MB':>7} {'hub+ch':>7} {'/msg':>8} "
    f"{'ms':>7} {'ms':>7} {'ids':>6} {'ids':>6} {'ms':>7} {'ms':>7} {'':>5}"
)


def _p(values: Sequence[float], q: float) -> str:
    return f"{percentile(values, q):.1f}" if values else "-"


# --------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class Third:
    """Rows ``rows`` of a soak and the row just before them (the level they start from)."""

    before: Row
    rows: Sequence[Row]

    @property
    def messages(self) -> int:
        return self.rows[-1].accepted - self.before.accepted

    @property
    def growth_per_1000(self) -> float:
        grown = self.rows[-1].data_bytes - self.before.data_bytes
        return grown / max(self.messages, 1) * 1000

    @property
    def rss(self) -> float:
        return sum(row.rss_bytes for row in self.rows) / len(self.rows)

    @property
    def cpu_ms_per_msg(self) -> float | None:
        delivered = self.rows[-1].delivered - self.before.delivered
        if delivered <= 0:
            return None
        return (self.rows[-1].hub_cpu - self.before.hub_cpu) / delivered * 1000

    def message_ms(self) -> list[float]:
        return [ms for row in self.rows for ms in row.probes.message_ms]

    def health_ms(self) -> list[float]:
        return [ms for row in self.rows for ms in row.probes.health_ms]

    def span(self) -> str:
        return f"{self.before.elapsed:.0f}-{self.rows[-1].elapsed:.0f} s"


def thirds(rows: Sequence[Row], retention_due: float) -> tuple[Third, Third] | None:
    """The first and last third of the rows sampled under load after ``retention_due``
    seconds (each row's whole interval after it); None if there are fewer than 3."""
    after = [
        i
        for i, row in enumerate(rows)
        if i > 0 and row.sending and rows[i - 1].elapsed >= retention_due
    ]
    size = len(after) // 3
    if size == 0:
        return None
    first, last = after[:size], after[-size:]
    return (
        Third(rows[first[0] - 1], [rows[i] for i in first]),
        Third(rows[last[0] - 1], [rows[i] for i in last]),
    )


def before_retention(rows: Sequence[Row], first_deletion: float) -> Third | None:
    """The rows from the first to the last one sampled before anything could be deleted."""
    early = [i for i, row in enumerate(rows) if row.elapsed <= first_deletion]
    if len(early) < 2:
        return None
    return Third(rows[early[0]], [rows[i] for i in early[1:]])


def _ratio(first: float | None, last: float | None) -> float | None:
    if first is None or last is None or first <= 0:
        return None
    return last / first


def _flat(ratio: float | None, tolerance: float) -> str:
    if ratio is None:
        return "no verdict (nothing to compare)"
    verdict = "flat" if round(ratio, 2) <= tolerance else "NOT flat"  # as shown
    return f"{ratio:.2f} × ({verdict}: flat is <= {tolerance:.2f} ×)"


def _latency(name: str, first: list[float], last: list[float]) -> list[tuple[str, str]]:
    if not first or not last:
        return [(name, "no verdict (no timed calls in a third)")]
    rows = []
    for q in (50, 99):
        a, b = percentile(first, q), percentile(last, q)
        rows.append(
            (
                name if q == 50 else "",
                f"p{q} {a:.1f} → {b:.1f} ms = {_flat(_ratio(a, b), FLAT_RATIO)}"
                f" ({len(first)} and {len(last)} calls)",
            )
        )
    return rows


def compare(
    rows: Sequence[Row], first_deletion: float, retention_due: float, min_idle: float
) -> list[tuple[str, str]]:
    """The verdict lines (label, text) on the rows of a soak: the thirds after
    ``retention_due`` seconds, their growth against the rows before ``first_deletion``."""
    pair = thirds(rows, retention_due)
    if pair is None:
        sending = [row for row in rows if row.sending]
        end = sending[-1].elapsed if sending else 0.0
        return [
            (
                "no verdicts",
                f"the load ended at {end:.0f} s, too soon after retention was due at "
                f"{retention_due:.0f} s to give 3 samples after it: send more messages, or "
                "lower --retention-ms / --store-retention-ms / --sample-seconds",
            )
        ]
    first, last = pair
    lines = [("compared", f"first third {first.span()} against last third {last.span()}")]
    pre = before_retention(rows, first_deletion)
    growth = f"{first.growth_per_1000 / 1e3:,.1f} → {last.growth_per_1000 / 1e3:,.1f} KB"
    if pre is None or pre.growth_per_1000 <= 0:
        lines.append(("data folder", f"{growth} per 1,000 messages (no growth before retention)"))
    else:
        share = last.growth_per_1000 / pre.growth_per_1000
        verdict = "levelled off" if share <= LEVELLED_FRACTION else "NOT levelled off"
        lines.append(
            (
                "data folder",
                f"{growth} per 1,000 messages; the last third grew {share:.2f} × as fast as "
                f"before retention ({pre.growth_per_1000 / 1e3:,.1f} KB per 1,000 over "
                f"{pre.span()}): {verdict} (levelled off is <= {LEVELLED_FRACTION:.2f} ×)",
            )
        )
    lines.append(
        (
            "hub RSS",
            f"{first.rss / 1e6:,.1f} → {last.rss / 1e6:,.1f} MB (mean) = "
            + _flat(_ratio(first.rss, last.rss), FLAT_RSS),
        )
    )
    a, b = first.cpu_ms_per_msg, last.cpu_ms_per_msg
    cpu = "-" if a is None or b is None else f"{a:.3f} → {b:.3f} ms per message = "
    lines.append(("hub CPU", cpu + _flat(_ratio(a, b), FLAT_RATIO)))
    lines += _latency("GET message", first.message_ms(), last.message_ms())
    lines += _latency("GET /healthz", first.health_ms(), last.health_ms())
    compared = [*first.rows, *last.rows]
    worst = min(row.idle_share for row in compared)
    valid = (
        "valid"
        if worst >= min_idle
        else f"NOT VALID: under {min_idle:.0%}: other work shared the cores"
    )
    lines.append(("machine", f"{worst:.0%} idle at the lowest over the compared rows ({valid})"))
    return lines
