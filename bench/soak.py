"""A long steady run of one hub: does it stay bounded once retention deletes (``make bench-soak``)?

Starts the counting receivers (bench/receivers.py) and ``exchange serve`` (its default
process layout) on the embedded backbone, with short retention of the backbone's log
(``EXCHANGE_RETENTION_MS``) and of the store's finished messages
(``EXCHANGE_STORE_RETENTION_MS``) so that both start deleting within the run, then sends
``--messages`` enterprise registrations at a steady open-loop ``--rate`` (bench.e2e's mix of
documents, senders and keys; every message with its own id).

Every ``--sample-seconds`` one row: messages accepted and delivered, the data folder's bytes,
the hub's resident memory (its process and children), its CPU per delivered message over the
interval, and the latency of a few ``GET /v1/messages/{id}`` (ids sent early, which store
retention deletes in time, and recently) and ``GET /healthz`` calls spread over it.  At the
end every accepted id must have reached the receiver; then the first third of the run after
retention started is compared with the last third: the data folder should level off, and
memory, CPU per message and read latency stay flat.

    .venv/bin/python -m bench.soak [--messages 300000] [--rate 300] [--sample-seconds 10]
                                   [--retention-ms 60000] [--store-retention-ms 120000]
                                   [--processes N] [--timeout 120] [--keep] [--min-idle 80]

Exit status 0 when every message was accepted and delivered and no process failed, 1
otherwise; the verdicts are printed, not an exit status.  See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
import uvloop

from bench.e2e import (
    BENCH_PREFIX,
    OPEN_CONNECTIONS,
    SENDERS,
    BenchFailure,
    Child,
    Load,
    Mix,
    Submitter,
    check_deliveries,
    create_key,
    percentile,
    post_message,
    receiver_counts,
    receivers_child,
    routes_yaml,
    serve_command,
    wait_for_deliveries,
)
from bench.machine import measure_idle, wait_until_idle
from bench.openloop import Schedule, plan, run_open_loop
from bench.sampling import (
    GONE,
    HEADER,
    REMEMBERED,
    STORED,
    Probes,
    Row,
    children,
    compare,
    folder_files,
    tree_rss_by_process,
    tree_rss_bytes,
    wal_bytes,
)
from tests.harness import free_port, make_home

ENDPOINT = "tax-bureau"  # the single-endpoint route of bench.e2e
# Both retentions look for work about once a minute (the backbone's log every 60 s from the
# start, the store 5 s after it and then every 60 s): an age limit is acted on up to this
# much later than it is reached.
RETENTION_CHECK_SECONDS = 60.0
CHUNK_SECONDS = 1.0  # the load is planned a second at a time, each second on its own
PROBES = 10  # timed calls of each kind per sample
RECENT_MARGIN_SECONDS = 1.0  # "recent" ids: sent at least this long ago, so indexed by now


@dataclass(frozen=True)
class Options:
    messages: int
    rate: float
    sample_seconds: float
    retention_ms: int
    store_retention_ms: int
    processes: int | None
    timeout: float
    keep: bool
    min_idle: float
    idle_seconds: float

    @property
    def first_deletion(self) -> float:
        """Seconds into the load before which neither retention can delete anything."""
        return min(self.retention_ms, self.store_retention_ms) / 1000

    @property
    def retention_due(self) -> float:
        """Seconds into the load by which both retentions have acted on what aged out."""
        # The first pass that deletes may come a whole interval after the age limit; only from
        # the next one on does every pass free what the interval before it wrote, so that the
        # files stop growing from there.
        longest = max(self.retention_ms, self.store_retention_ms) / 1000
        return longest + 2 * RETENTION_CHECK_SECONDS


@dataclass(frozen=True)
class Snapshot:
    """The data folder's files and the hub's processes' memory at one moment."""

    files: dict[str, int]
    rss: dict[str, int]  # "pid command" -> bytes

    def lines(self, moment: str) -> list[tuple[str, str]]:
        def listed(sizes: dict[str, int]) -> str:
            return ", ".join(f"{name} {size / 1e6:,.1f} MB" for name, size in sorted(sizes.items()))

        return [(f"files {moment}", listed(self.files)), (f"RSS {moment}", listed(self.rss))]


@dataclass(frozen=True)
class Processes:
    hub: Child
    receivers: Child
    hub_url: str
    receivers_url: str
    data_dir: Path


class Soak:
    """The load, the timed reads and the samples of one soak, on one event loop."""

    def __init__(
        self,
        options: Options,
        procs: Processes,
        mix: Mix,
        submitter: Submitter,
        side: aiohttp.ClientSession,
    ) -> None:
        self.options = options
        self.procs = procs
        self.mix = mix
        self.submitter = submitter  # the load's connections
        self.side = side  # the samples' and probes' own, never queued behind the load
        self.tag = uuid.uuid4().hex[:8]
        self.load = Load.of(options.messages)
        self.summary_url = f"{procs.receivers_url}{BENCH_PREFIX}"
        self.started = 0.0  # perf_counter when the first message was due
        self.accepted = 0
        self.sending = True
        self.lags: list[float] = []  # seconds each message started behind the steady plan
        self.probes = Probes()
        self.rows: list[Row] = []
        self.failures: list[str] = []  # processes that failed during the run
        self.snapshots: dict[str, Snapshot] = {}  # files and memory at moments of the run

    def message_id(self, i: int) -> str:
        return f"soak-{self.tag}-{i}"

    # ----------------------------------------------------------------------- the load

    async def _post(self, i: int, due: float) -> None:
        await post_message(self.submitter, self.mix, self.load, i, self.message_id(i), due)
        if self.load.hub_ids[i] is not None:
            self.accepted += 1

    async def send(self) -> None:
        """Every message at start + i / rate: a second's worth at a time, each second started
        at its own time whatever the answers of the earlier ones are doing (open loop)."""
        count, rate = self.options.messages, self.options.rate
        per_chunk = max(1, round(rate * CHUNK_SECONDS))
        running: set[asyncio.Task[Schedule]] = set()
        self.started = time.perf_counter()
        self.load.started = self.started
        try:
            for first in range(0, count, per_chunk):
                size = min(per_chunk, count - first)
                wait = self.started + first / rate - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)

                async def post(i: int, due: float, first: int = first) -> None:
                    await self._post(first + i, due)

                task = asyncio.create_task(run_open_loop(plan(size, rate), post))
                task.add_done_callback(self._chunk_done(first))
                running.add(task)
                task.add_done_callback(running.discard)
            while running:
                await asyncio.gather(*running)
        finally:
            for task in running:  # stopped early: the seconds in flight stop with it
                task.cancel()
        self.load.finished = time.perf_counter()

    def _chunk_done(self, first: int) -> Callable[[asyncio.Task[Schedule]], None]:
        def record(task: asyncio.Task[Schedule]) -> None:
            if task.cancelled() or task.exception() is not None:
                return
            planned = self.started + first / self.options.rate
            self.lags += [
                issued - planned - i / self.options.rate
                for i, issued in enumerate(task.result().issued)
            ]

        return record

    # ----------------------------------------------------------------------- timed reads

    def _due(self, seconds_ago: float = 0.0) -> int:
        """How many messages were due ``seconds_ago`` (their indexes are below this)."""
        if not self.started:
            return 0
        planned = (time.perf_counter() - seconds_ago - self.started) * self.options.rate
        return max(0, min(self.options.messages, math.floor(planned) + 1))

    def _pick(self, low: int, high: int) -> int | None:
        """An accepted message among indexes [low, high), or None if there is none yet."""
        if high <= low:
            return None
        for _ in range(5):
            i = random.randrange(low, high)
            if self.load.hub_ids[i] is not None:
                return i
        return None

    async def _timed_get(self, url: str, key: str | None) -> tuple[int | None, bytes, float]:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        began = time.perf_counter()
        try:
            async with self.side.get(url, headers=headers) as answer:
                body = await answer.read()
                status: int | None = answer.status
        except aiohttp.ClientError as exc:
            self.probes.errors.append(f"{url}: {exc!r}")
            status, body = None, b""
        return status, body, (time.perf_counter() - began) * 1000

    async def _probe_message(self, early: bool) -> None:
        rate, seconds = self.options.rate, self.options.sample_seconds
        if early:
            i = self._pick(0, min(self._due(), math.ceil(rate * seconds)))
        else:
            high = self._due(RECENT_MARGIN_SECONDS)
            i = self._pick(max(0, high - math.ceil(rate * seconds)), high)
        if i is None:
            return
        url = f"{self.procs.hub_url}/v1/messages/{self.load.hub_ids[i]}"
        status, body, ms = await self._timed_get(url, self.mix.key(i))
        probes = self.probes
        if status == 200:
            probes.message_ms.append(ms)
            stored = bool(json.loads(body).get("trace"))
            probes.count(early, STORED if stored else REMEMBERED)
        elif status == 404:
            probes.message_ms.append(ms)  # an answer too: timed with the rest
            probes.count(early, GONE)
        elif status is not None:
            probes.errors.append(f"GET {url}: HTTP {status} {body[:200]!r}")

    async def probe(self) -> None:
        """``PROBES`` reads of each kind per sample, spread evenly over it."""
        pause = self.options.sample_seconds / PROBES
        early = True
        while True:
            await asyncio.sleep(pause)
            await self._probe_message(early)
            early = not early
            status, _, ms = await self._timed_get(f"{self.procs.hub_url}/healthz", None)
            if status == 200:
                self.probes.health_ms.append(ms)
            else:
                self.probes.errors.append(f"GET /healthz: HTTP {status}")

    # ----------------------------------------------------------------------- samples

    def _ours(self) -> list[Callable[[], float]]:
        return [self.procs.hub.cpu, self.procs.receivers.cpu, time.process_time]

    async def sample(self) -> None:
        """A row every ``--sample-seconds`` (the machine's idle level is read over it)."""
        procs, options = self.procs, self.options
        print(HEADER, flush=True)
        last_cpu, last_delivered = procs.hub.cpu(), 0
        workers = set(children(procs.hub.pid))
        due_shown = False
        while True:
            idle = await measure_idle(self._ours(), options.sample_seconds)
            self._check_alive(workers)
            try:
                counts = await receiver_counts(self.side, self.summary_url)
            except aiohttp.ClientError as exc:
                raise BenchFailure(f"the bench receivers stopped answering: {exc!r}") from exc
            delivered = counts.get(ENDPOINT, 0)
            cpu = procs.hub.cpu()
            files = folder_files(procs.data_dir)
            probes, self.probes = self.probes, Probes()
            row = Row(
                elapsed=time.perf_counter() - self.started,
                accepted=self.accepted,
                delivered=delivered,
                data_bytes=sum(files.values()),
                wal_bytes=wal_bytes(files),
                rss_bytes=tree_rss_bytes(procs.hub.pid),
                hub_cpu=cpu,
                cpu_ms_per_msg=(
                    (cpu - last_cpu) / (delivered - last_delivered) * 1000
                    # a worker process that exited takes its CPU time with it: no figure then
                    if delivered > last_delivered and cpu >= last_cpu
                    else None
                ),
                probes=probes,
                idle_share=idle.idle_share,
                sending=self.sending,
            )
            last_cpu, last_delivered = cpu, delivered
            if not due_shown and row.elapsed >= options.retention_due:
                due_shown = True
                self.snapshots["when retention was due"] = self.snapshot()
                print(
                    f"---- retention due (backbone {options.retention_ms / 1000:g} s, store "
                    f"{options.store_retention_ms / 1000:g} s, + 2 × {RETENTION_CHECK_SECONDS:.0f} "
                    "s for their passes): the summary compares the rows after this line",
                    flush=True,
                )
            self.rows.append(row)
            print(row.line(), flush=True)
            for error in probes.errors[:3]:
                print(f"        probe failed: {error}", flush=True)

    def snapshot(self) -> Snapshot:
        return Snapshot(folder_files(self.procs.data_dir), tree_rss_by_process(self.procs.hub.pid))

    def _check_alive(self, workers: set[int]) -> None:
        procs = self.procs
        for child in (procs.hub, procs.receivers):
            if not child.alive():
                raise BenchFailure(f"the {child.name} has exited; see {child.log_path}")
        now = set(children(procs.hub.pid))
        for pid in sorted(workers - now):
            self.failures.append(
                f"the hub's worker process {pid} exited during the run; see {procs.hub.log_path}"
            )
            print(f"        {self.failures[-1]}", flush=True)
        workers.clear()
        workers.update(now)

    # ----------------------------------------------------------------------- the run

    async def run(self) -> None:
        procs, options = self.procs, self.options
        await wait_until_idle(procs.hub.cpu)
        idle = await measure_idle(self._ours(), options.idle_seconds)
        print(f"machine: {idle.describe()}", flush=True)
        if not idle.quiet_enough(options.min_idle):
            print(
                f"WARNING: the machine is under {options.min_idle:.0%} idle: other work "
                "shares the cores, the figures will not be comparable",
                flush=True,
            )
        seconds = options.messages / options.rate
        print(
            f"sending {options.messages:,} messages at {options.rate:,.1f} msg/s "
            f"(about {seconds:,.0f} s); retention due at {options.retention_due:,.0f} s",
            flush=True,
        )
        sampler = asyncio.create_task(self.sample())
        prober = asyncio.create_task(self.probe())
        try:
            await self._until(sampler, self.send())
            self.sending = False
            print(
                f"---- load sent in {self.load.finished - self.started:,.1f} s; waiting for "
                "the last deliveries",
                flush=True,
            )
            deadline = time.perf_counter() + options.timeout
            await self._until(
                sampler,
                wait_for_deliveries(
                    self.side,
                    self.summary_url,
                    [ENDPOINT],
                    lambda: self.accepted,
                    lambda: deadline,
                    procs.hub.alive,
                ),
            )
        finally:
            for task in (sampler, prober):
                task.cancel()
            await asyncio.gather(sampler, prober, return_exceptions=True)
        self.snapshots["at the end"] = self.snapshot()
        await check_deliveries(self.side, self.summary_url, [ENDPOINT], self.load)

    @staticmethod
    async def _until(sampler: asyncio.Task[None], work: Coroutine[Any, Any, object]) -> None:
        """Run ``work`` to its end, or until the sampler fails (it raises)."""
        task = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({task, sampler}, return_when=asyncio.FIRST_COMPLETED)
        if sampler in done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            sampler.result()  # raises what ended it
            raise BenchFailure("the sampler stopped before the run ended")
        task.result()

    # ----------------------------------------------------------------------- report

    def report(self) -> str:
        load, options = self.load, self.options
        seconds = load.finished - self.started
        latencies = [
            value * 1000
            for value, hub_id in zip(load.latencies, load.hub_ids, strict=True)
            if hub_id
        ]
        rows: list[tuple[str, str]] = [
            (
                "load",
                f"{self.accepted:,} of {options.messages:,} accepted in {seconds:,.1f} s "
                f"({self.accepted / seconds:,.1f} msg/s, {options.rate:,.1f} offered)",
            )
        ]
        if latencies:
            rows.append(
                (
                    "",
                    f"POST p50 {percentile(latencies, 50):.1f} ms, p99 "
                    f"{percentile(latencies, 99):.1f} ms (from the planned send); send lag p99 "
                    f"{percentile(self.lags or [0.0], 99) * 1000:.1f} ms",
                )
            )
        rows += self.early_ids()
        rows += compare(self.rows, options.first_deletion, options.retention_due, options.min_idle)
        for moment, snapshot in self.snapshots.items():
            rows += snapshot.lines(moment)
        width = max(len(label) for label, _ in rows)
        return "\n".join(f"  {label:<{width}}  {text}".rstrip() for label, text in rows)

    def early_ids(self) -> list[tuple[str, str]]:
        """What the reads of the run's first and latest ids say about the store."""
        rows, options = self.rows, self.options
        limit = options.store_retention_ms / 1000

        def when(kind: str) -> list[float]:
            return [row.elapsed for row in rows if row.probes.early.get(kind)]

        stored, remembered, gone = when(STORED), when(REMEMBERED), when(GONE)
        left = sorted(remembered + gone)
        if left:
            text = (
                f"the first ids left the store at {left[0]:.0f} s (last read there at "
                f"{max(stored, default=0.0):.0f} s; store retention {limit:g} s, looked at "
                f"every {RETENTION_CHECK_SECONDS:.0f} s)"
            )
            if remembered:
                text += (
                    f"; from {min(remembered):.0f} to {max(remembered):.0f} s the hub still "
                    "answered 200, status accepted with no trace (its front door remembers "
                    "recently accepted ids)"
                )
            if gone:
                text += f"; 404 from {min(gone):.0f} s"
            lines = [("store retention", text)]
        elif stored and max(stored) > options.retention_due:
            lines = [
                (
                    "store retention",
                    f"the first ids were still in the store at {max(stored):.0f} s, when "
                    f"retention ({limit:g} s for the store) was long due: it kept them; does "
                    "this hub apply EXCHANGE_STORE_RETENTION_MS?",
                )
            ]
        else:
            lines = [("store retention", "the run ended before the first ids could go")]
        reads = sum(sum(row.probes.recent.values()) for row in rows)
        missing = sum(row.probes.recent.get(kind, 0) for row in rows for kind in (REMEMBERED, GONE))
        if missing:
            lines.append(
                (
                    "",
                    f"{missing:,} of {reads:,} reads of ids sent {RECENT_MARGIN_SECONDS:g} s or "
                    "more before found them not yet in the store (indexing behind)",
                )
            )
        return lines


def hub_log_problems(path: Path) -> str:
    """How many WARNING and ERROR lines the hub logged, with the first of the worst kind."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no hub log)"
    errors = [line for line in lines if " ERROR " in line or " CRITICAL " in line]
    warnings = [line for line in lines if " WARNING " in line]
    text = f"{len(errors):,} ERROR and {len(warnings):,} WARNING lines"
    first = (errors or warnings or [""])[0]
    return text + (f"; first: {first[:300]}" if first else "")


def _terminate(signum: int, _: FrameType | None) -> None:
    # SIGTERM would end us without running ``finally``; turn it into Ctrl-C.
    raise KeyboardInterrupt(f"signal {signum}")


async def soak(options: Options, procs: Processes, mix: Mix) -> Soak:
    submitter = Submitter(procs.hub_url, OPEN_CONNECTIONS)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=4)) as side:
        run = Soak(options, procs, mix, submitter, side)
        try:
            await run.run()
        finally:
            await submitter.pool.close()
        return run


def run(options: Options) -> bool:
    """The whole soak; True when every message was accepted and delivered, no process failed."""
    tmp = Path(tempfile.mkdtemp(prefix="exchange-soak-"))
    receivers_port, hub_port = free_port(), free_port()
    home = make_home(
        tmp, routes_yaml(receivers_port, fan_out=False, senders=SENDERS, prefix=BENCH_PREFIX)
    )
    data_dir = tmp / "data"
    data_dir.mkdir()
    env = {
        **os.environ,
        "EXCHANGE_HOME": str(home),
        "EXCHANGE_DATA_DIR": str(data_dir),
        "EXCHANGE_RETENTION_MS": str(options.retention_ms),
        "EXCHANGE_STORE_RETENTION_MS": str(options.store_retention_ms),
    }
    receivers = receivers_child(receivers_port, env, tmp)
    serve = serve_command(hub_port, options.processes)
    hub = Child("hub", serve, env, tmp / "hub.log")
    hub_url, receivers_url = f"http://127.0.0.1:{hub_port}", f"http://127.0.0.1:{receivers_port}"
    ok = False
    try:
        receivers.start(f"{receivers_url}{BENCH_PREFIX}")
        mix = Mix.of([(code, create_key(env, code)) for code in SENDERS])
        print(f"documents: {mix.describe()}", flush=True)
        print(
            f"hub: {' '.join(serve[1:])}, embedded backbone, EXCHANGE_RETENTION_MS="
            f"{options.retention_ms}, EXCHANGE_STORE_RETENTION_MS={options.store_retention_ms}",
            flush=True,
        )
        hub.start(f"{hub_url}/healthz")
        procs = Processes(hub, receivers, hub_url, receivers_url, data_dir)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            done = runner.run(soak(options, procs, mix))
        print("\n" + done.report())
        print(f"  hub log  {hub_log_problems(hub.log_path)}")
        problems = list(done.failures)
        if done.load.failures:
            problems.append(
                f"{len(done.load.failures):,} of {options.messages:,} messages were not "
                f"accepted; first: {done.load.failures[0]}"
            )
        for problem in problems:
            print(f"\nFAILED: {problem}", file=sys.stderr)
        ok = not problems
    except BenchFailure as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        if hub.process is not None:
            print(f"last lines of the hub's log ({hub.log_path}):", file=sys.stderr)
            print(hub.log_tail(), file=sys.stderr)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the hub and the receivers", file=sys.stderr)
    finally:
        hub.stop()
        receivers.stop()
        if ok and not options.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs and data kept in {tmp}", file=sys.stderr)
    return ok


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--messages", type=int, default=300_000, help="messages in all")
    parser.add_argument("--rate", type=float, default=300.0, help="steady msg/s, open loop")
    parser.add_argument(
        "--sample-seconds", type=float, default=10.0, help="seconds between two rows"
    )
    parser.add_argument(
        "--retention-ms",
        type=int,
        default=60_000,
        help="the hub's EXCHANGE_RETENTION_MS (embedded backbone's log)",
    )
    parser.add_argument(
        "--store-retention-ms",
        type=int,
        default=120_000,
        help="the hub's EXCHANGE_STORE_RETENTION_MS (finished messages in the store)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        choices=(1, 2, 3),
        help="run the hub as 'serve --processes N' (default: the hub's own layout)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds the hub has, after the last 202, to deliver everything",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs, data)")
    parser.add_argument(
        "--min-idle",
        type=float,
        default=80.0,
        help="percent idle (of the cores the bench does not use) below which rows are not valid",
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=2.0, help="how long the idle level is read first"
    )
    args = parser.parse_args(argv)
    if args.messages < 1:
        parser.error(f"--messages {args.messages}: give at least 1")
    if args.rate <= 0 or args.sample_seconds <= 0 or args.timeout <= 0 or args.idle_seconds <= 0:
        parser.error("--rate, --sample-seconds, --timeout and --idle-seconds must be above 0")
    if args.retention_ms < 0 or args.store_retention_ms < 0:
        parser.error(
            "--retention-ms and --store-retention-ms must be 0 or more: the soak is about "
            "retention, so it cannot be switched off (-1)"
        )
    if not 0 <= args.min_idle <= 100:
        parser.error(f"--min-idle {args.min_idle}: give a percentage between 0 and 100")
    return Options(
        messages=args.messages,
        rate=args.rate,
        sample_seconds=args.sample_seconds,
        retention_ms=args.retention_ms,
        store_retention_ms=args.store_retention_ms,
        processes=args.processes,
        timeout=args.timeout,
        keep=args.keep,
        min_idle=args.min_idle / 100,
        idle_seconds=args.idle_seconds,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    return 0 if run(options) else 1


if __name__ == "__main__":
    sys.exit(main())
