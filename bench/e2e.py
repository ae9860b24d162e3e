"""End-to-end throughput and latency of one hub, on each backbone in turn (``make bench``).

Starts counting receivers (bench/receivers.py) and the hub as child processes on free
loopback ports, with a throw-away home (the repository's schemas and adapters, a bench
routing table with several senders) and data folder, then sends ``--messages`` enterprise
registrations (every valid sample in turn, from every sender in turn) from this process:

* closed loop (the default): ``--concurrency`` connections, each sending its next message
  when the previous answer arrives; gives the maximum rate;
* open loop (``--rate R``): messages planned at R per second and sent at their planned times
  whatever the answers do, latency counted from the planned time (no coordinated omission);
* ``--curve``: the closed-loop maximum, then open-loop steps at fractions of it, as a table;
* ``--cores-scaling``: closed-loop runs with the hub pinned to 1 core, then to 2.

Each run measures ingress latency and throughput, end-to-end throughput (the receivers'
distinct ``X-Exchange-Id`` counts, polled every 20 ms, then checked id by id), end-to-end
latency of a sample of messages from their traces, the hub's CPU per message from an idle hub
to an idle hub (and the Kafka broker's, when the bench started it), and the machine's idle
level before it; comparisons are marked not valid when the machine was busy.

    .venv/bin/python -m bench.e2e [--messages 10000] [--concurrency 50] [--warmup 500]
                                  [--rate R | --curve [--curve-rates R,...] | --cores-scaling]
                                  [--backbone embedded[,kafka]] [--kafka HOST:PORT,...]
                                  [--fan-out] [--latency-sample 1000] [--timeout 60] [--keep]

Exit status 0 when every message was accepted and delivered, 1 otherwise. See bench/README.md.
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
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
import uvloop
import yaml

from bench import curve, rawhttp
from bench.machine import (
    IdleLevel,
    cpu_by_process,
    cpu_seconds,
    measure_idle,
    pinned,
    wait_until_idle,
)
from bench.openloop import plan, run_open_loop
from tests.harness import free_port, make_home
from tools.kafka_broker import KafkaCluster

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "schemas" / "samr.EnterpriseRegistration" / "1.0" / "samples" / "valid"
SENDER = "samr-reg"
# Several senders, each with its own key, so that the hub's sender and key checks see the
# variety of a real day rather than one cached pair.
SENDERS = (SENDER, "samr-reg-gd", "samr-reg-gx")
MESSAGE_TYPE = "samr.EnterpriseRegistration"
TARGET_BYTES = 3 * 1024
DEMO_PREFIX = "/demo-receivers"
BENCH_PREFIX = "/bench-receivers"

# The hub's targets on 2 cores, which the report compares against.
TARGET_HUB_CPU_MS = 0.8  # hub CPU per message, every process, idle hub to idle hub


@dataclass(frozen=True)
class Target:
    """The end-to-end throughput a run is held to, in messages per second."""

    per_s: float
    says: str

    @classmethod
    def of(cls, backbone: str, *, fan_out: bool, document_kb: int | None) -> Target:
        if document_kb is not None and document_kb >= 100:
            return cls(150.0, "150 msg/s for a 100 KB document")
        if fan_out:
            return cls(2000.0 / 3, "2,000 deliveries/s to 3 receivers")
        if backbone == "kafka":
            return cls(1200.0, "1,200 msg/s on a co-located Kafka broker")
        return cls(1500.0, "1,500 msg/s on the embedded backbone")


TARGET_INGRESS_P99_MS = curve.TARGET_INGRESS_P99_MS
TARGET_E2E_P99_MS = curve.TARGET_E2E_P99_MS

# Receivers and the format each accepts; the single-endpoint run uses only the first.
ENDPOINTS = {
    "tax-bureau": "tax.TaxpayerRegistration",
    "social-security": "hrss.EmployerRegistration",
    "legal-entity-registry": "canonical.LegalEntity",
}
SINGLE_CHAIN = ["samr-to-canonical", "canonical-to-tax"]

POLL_SECONDS = 0.02
STOP_SECONDS = 15.0
OPEN_CONNECTIONS = 256  # the open loop's ceiling: enough for rate × latency at the knee


MAX_SHAREHOLDERS = 200  # maxOccurs of Shareholder in the SAMR schema


class BenchFailure(Exception):
    """A run that cannot produce trustworthy figures; the message says what and where."""


# --------------------------------------------------------------------------- set-up


def routes_yaml(
    receivers_port: int,
    *,
    fan_out: bool,
    senders: Sequence[str] = (SENDER,),
    prefix: str = DEMO_PREFIX,
) -> str:
    """The bench routing table: tax-bureau with an explicit 2-adapter chain, or all three;
    ``senders`` may send the registration, to receivers under ``prefix``."""
    names = list(ENDPOINTS) if fan_out else ["tax-bureau"]
    endpoints = [
        {
            "name": name,
            "kind": "rest",
            "url": f"http://127.0.0.1:{receivers_port}{prefix}/{name}",
            "format": ENDPOINTS[name],
        }
        for name in names
    ]
    # With the fan-out the chains are left to the hub to resolve, as in the demo.
    destinations: list[dict[str, Any]] = (
        [{"endpoint": name} for name in names]
        if fan_out
        else [{"endpoint": "tax-bureau", "adapters": SINGLE_CHAIN}]
    )
    table = {
        "endpoints": endpoints,
        "routes": [
            {
                "name": "bench-enterprise-registration",
                "match": {"message_type": MESSAGE_TYPE, "senders": list(senders)},
                "destinations": destinations,
            }
        ],
        "senders": [{"code": code, "may_send": [MESSAGE_TYPE]} for code in senders],
    }
    return yaml.safe_dump(table, sort_keys=False)


def pick_sample(folder: Path = SAMPLES, target: int = TARGET_BYTES) -> Path:
    """The valid sample whose size is closest to ``target`` bytes."""
    samples = sorted(folder.glob("*.xml"))
    if not samples:
        raise BenchFailure(f"no valid samples in {folder}; the benchmark needs one to send")
    return min(samples, key=lambda path: (abs(path.stat().st_size - target), path.name))


@dataclass(frozen=True)
class Mix:
    """What message i is: every valid sample in turn, and for each round of samples the
    next sender with its own key, so all (document, sender) pairs come up in turn."""

    documents: list[tuple[str, bytes]]  # (file name, content)
    senders: list[tuple[str, str]]  # (sender code, its key)

    @classmethod
    def of(cls, senders: Sequence[tuple[str, str]], folder: Path = SAMPLES) -> Mix:
        documents = [(path.name, path.read_bytes()) for path in sorted(folder.glob("*.xml"))]
        if not documents:
            raise BenchFailure(f"no valid samples in {folder}; the benchmark needs them to send")
        return cls(documents, list(senders))

    def enlarged(self, kilobytes: int) -> Mix:
        """One document of about ``kilobytes`` KB instead of the samples: the first sample
        with its first shareholder repeated (the schema allows 200, about 110 KB)."""
        name, body = self.documents[0]
        start = body.index(b"<Shareholder>")
        end = body.index(b"</Shareholder>") + len(b"</Shareholder>")
        one = body[start:end] + b"\n    "
        copies = max(1, math.ceil((kilobytes * 1000 - len(body)) / len(one)) + 1)
        if copies > MAX_SHAREHOLDERS:
            raise BenchFailure(
                f"--document-kb {kilobytes}: the schema allows {MAX_SHAREHOLDERS} shareholders, "
                f"about {(len(body) + MAX_SHAREHOLDERS * len(one)) // 1000} KB; ask for less"
            )
        large = body[:start] + one * copies + body[end:]
        return Mix([(f"{name} with {copies} shareholders", large)], self.senders)

    def request(self, i: int, message_id: str) -> tuple[bytes, dict[str, str]]:
        _, body = self.documents[i % len(self.documents)]
        code, key = self.senders[(i // len(self.documents)) % len(self.senders)]
        headers = {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/xml",
            "X-Exchange-Sender": code,
            "X-Exchange-Message-Id": message_id,
        }
        return body, headers

    def key(self, i: int) -> str:
        """The key message i was sent with."""
        return self.senders[(i // len(self.documents)) % len(self.senders)][1]

    def describe(self) -> str:
        sizes = [len(body) for _, body in self.documents]
        return (
            f"{len(sizes)} valid document{'s' if len(sizes) != 1 else ''} of {MESSAGE_TYPE}, "
            f"{min(sizes):,}-{max(sizes):,} B "
            f"(mean {sum(sizes) / len(sizes):,.0f} B), from {len(self.senders)} senders "
            f"({', '.join(code for code, _ in self.senders)}), one key each"
        )


@dataclass
class Child:
    """A child process in its own session (Ctrl-C reaches only us; we stop it ourselves)."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, ready_url: str, timeout: float = 30.0) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.args,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchFailure(
                    f"the {self.name} exited at start (status {self.process.returncode}):\n"
                    + self.log_tail()
                )
            try:
                if httpx.get(ready_url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise BenchFailure(
            f"the {self.name} did not answer {ready_url} within {timeout:.0f} s:\n"
            + self.log_tail()
        )

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchFailure(f"the {self.name} was never started")
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """SIGTERM, then SIGKILL if it is still there after ``timeout`` seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"the {self.name} ignored SIGTERM for {timeout:.0f} s: killing it")
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def create_key(env: dict[str, str], sender: str = SENDER) -> str:
    """``exchange keys create <sender>``; the key is the line ``key:    <key>``."""
    result = subprocess.run(
        [sys.executable, "-m", "exchange", "keys", "create", sender],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in result.stdout.splitlines():
        if line.startswith("key:"):
            return line.split()[-1]
    raise BenchFailure(
        f"'exchange keys create {sender}' gave no key (status {result.returncode}): "
        + (result.stderr.strip() or result.stdout.strip())
    )


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (the smallest value with at least q% of values at or below)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not between 0 and 100")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def parse_time(value: str) -> float:
    """A trace time stamp as seconds since the epoch (naive stamps are the hub's UTC)."""
    stamp = datetime.fromisoformat(value)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def delivered_at(trace: dict[str, Any], endpoints: Sequence[str]) -> float | None:
    """When the last of ``endpoints`` got the message, or None if one has not yet."""
    stamps: dict[str, float] = {}
    for step in trace.get("trace", []):
        if step.get("step") == "delivered" and step.get("endpoint") in endpoints:
            stamps[step["endpoint"]] = parse_time(step["at"])
    if len(stamps) < len(endpoints):
        return None
    return max(stamps.values())


# --------------------------------------------------------------------------- load


@dataclass
class Load:
    """What one batch of sends produced; index i is the i-th message of the batch."""

    latencies: list[float]  # seconds, send (open loop: planned send) → answer
    sent_wall: list[float]  # time.time() at (planned) send, to compare with the hub's stamps
    answered_wall: list[float]  # time.time() at the 202
    hub_ids: list[str | None]  # the id from the 202, None if not accepted
    failures: list[str] = field(default_factory=list)
    started: float = 0.0  # perf_counter of the first (planned) send
    finished: float = 0.0  # perf_counter of the last answer
    lags: list[float] = field(default_factory=list)  # open loop: start - plan, seconds
    # time.time() - time.perf_counter(), to turn a planned perf_counter into a wall time.
    wall_offset: float = field(default_factory=lambda: time.time() - time.perf_counter())

    @classmethod
    def of(cls, count: int) -> Load:
        return cls([0.0] * count, [0.0] * count, [0.0] * count, [None] * count)

    @property
    def accepted(self) -> int:
        return sum(1 for hub_id in self.hub_ids if hub_id is not None)


class Submitter:
    """POSTs documents to the hub's ``/v1/messages`` over lean keep-alive connections
    (bench/rawhttp.py: the load generator shares the hub's cores, so it must cost little)."""

    def __init__(self, hub_url: str, limit: int) -> None:
        address = urlsplit(hub_url)
        assert address.hostname is not None and address.port is not None
        self._host = f"{address.hostname}:{address.port}"
        self.pool = rawhttp.Pool(address.hostname, address.port, limit)

    async def submit(self, body: bytes, headers: Mapping[str, str]) -> rawhttp.Answer:
        request = rawhttp.request_bytes("POST", "/v1/messages", self._host, headers, body)
        return await self.pool.send(request)


async def post_message(
    submitter: Submitter, mix: Mix, load: Load, i: int, message_id: str, began: float
) -> None:
    """POST message i; its latency runs from ``began`` (a perf_counter time) to the answer."""
    body, headers = mix.request(i, message_id)
    load.sent_wall[i] = began + load.wall_offset
    try:
        answer = await submitter.submit(body, headers)
    except (OSError, rawhttp.ProtocolFault) as exc:
        load.latencies[i] = time.perf_counter() - began
        load.failures.append(f"{message_id}: {exc!r}")
        return
    load.latencies[i] = time.perf_counter() - began
    load.answered_wall[i] = time.time()
    if answer.status == 202:
        load.hub_ids[i] = json.loads(answer.body)["id"]
    else:
        text = answer.body.decode("utf-8", "replace")[:300]
        load.failures.append(f"{message_id}: HTTP {answer.status} {text}")


async def send_all(
    submitter: Submitter, mix: Mix, message_ids: Sequence[str], concurrency: int
) -> Load:
    """Closed loop: ``concurrency`` workers, each sending its next message on an answer."""
    count = len(message_ids)
    load = Load.of(count)
    indexes: Iterator[int] = iter(range(count))  # shared: each worker takes the next one

    async def worker() -> None:
        for i in indexes:
            await post_message(submitter, mix, load, i, message_ids[i], time.perf_counter())

    load.started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    load.finished = time.perf_counter()
    return load


async def send_open(
    submitter: Submitter, mix: Mix, message_ids: Sequence[str], rate: float
) -> Load:
    """Open loop: message i sent at start + i / rate, its latency counted from that time."""
    load = Load.of(len(message_ids))

    async def send(i: int, due: float) -> None:
        await post_message(submitter, mix, load, i, message_ids[i], due)

    schedule = await run_open_loop(plan(len(message_ids), rate), send)
    load.finished = time.perf_counter()
    load.started = schedule.planned[0] if schedule.planned else load.finished
    load.lags = schedule.lags()
    return load


async def receiver_counts(session: aiohttp.ClientSession, url: str) -> dict[str, int]:
    """Distinct ids per endpoint, from the receivers' summary (demo or bench receivers)."""
    async with session.get(url) as response:
        summary: dict[str, dict[str, int]] = await response.json()
    return {name: counts["distinct"] for name, counts in summary.items()}


async def check_deliveries(
    session: aiohttp.ClientSession, url: str, endpoints: Sequence[str], load: Load
) -> None:
    """Every id the hub accepted is at every endpoint, and no delivery came without one.

    The counts polled during the run say "enough distinct ids arrived"; this says they are
    the right ones.
    """
    async with session.get(url) as response:
        summary: dict[str, dict[str, int]] = await response.json()
    accepted = {hub_id for hub_id in load.hub_ids if hub_id is not None}
    for name in endpoints:
        without = summary.get(name, {}).get("without_id", 0)
        if without:
            raise BenchFailure(f"{name} got {without:,} deliveries without an X-Exchange-Id")
        async with session.get(f"{url}/{name}/ids") as response:
            seen = set(await response.json())
        missing = accepted - seen
        if missing:
            raise BenchFailure(
                f"{name} never got {len(missing):,} accepted messages, e.g. {min(missing)}"
            )


async def wait_for_deliveries(
    session: aiohttp.ClientSession,
    url: str,
    endpoints: Sequence[str],
    expected: Callable[[], int],
    deadline: Callable[[], float],
    alive: Callable[[], bool],
) -> float:
    """perf_counter when every endpoint has ``expected()`` distinct ids; raises at deadline."""
    counts: dict[str, int] = {}
    while True:
        try:
            counts = await receiver_counts(session, url)
        except aiohttp.ClientError as exc:
            raise BenchFailure(f"the demo receivers stopped answering {url}: {exc!r}") from exc
        if all(counts.get(name, 0) >= expected() for name in endpoints):
            return time.perf_counter()
        now = time.perf_counter()
        if now > deadline() or not alive():
            short = ", ".join(
                f"{name} {counts.get(name, 0):,} of {expected():,}" for name in endpoints
            )
            why = (
                "the hub has exited"
                if not alive()
                else "not all arrived within --timeout seconds of the last 202"
            )
            raise BenchFailure(f"deliveries missing ({why}): {short}")
        await asyncio.sleep(POLL_SECONDS)


@dataclass
class Traced:
    """End-to-end seconds of the sampled messages whose traces showed every delivery."""

    latencies: list[float]  # (planned) send → delivered at the last endpoint
    from_accept: list[float]  # the 202 → delivered at the last endpoint
    sampled: int

    @property
    def incomplete(self) -> int:
        return self.sampled - len(self.latencies)


async def sample_latencies(
    session: aiohttp.ClientSession,
    hub_url: str,
    key_of: Callable[[int], str],
    load: Load,
    endpoints: Sequence[str],
    size: int,
    patience: float = 5.0,
) -> Traced:
    """End-to-end latency of a random sample of the accepted messages, from their traces.

    A trace may lag behind the deliveries while the hub indexes, so the traces still missing
    a delivery are asked for again, round after round, until a round completes none for
    ``patience`` seconds; those left are counted as incomplete.
    """
    accepted = [i for i, hub_id in enumerate(load.hub_ids) if hub_id is not None]
    remaining = random.Random(0).sample(accepted, min(size, len(accepted)))
    slots = asyncio.Semaphore(8)
    found: dict[int, float] = {}

    async def delivered(i: int) -> float | None:
        headers = {"Authorization": f"Bearer {key_of(i)}"}  # a sender reads only its own
        async with (
            slots,
            session.get(f"{hub_url}/v1/messages/{load.hub_ids[i]}", headers=headers) as response,
        ):
            trace: dict[str, Any] = await response.json() if response.status == 200 else {}
        return delivered_at(trace, endpoints)

    sampled = len(remaining)
    progress = time.perf_counter()
    while remaining:
        stamps = await asyncio.gather(*(delivered(i) for i in remaining))
        found.update((i, at) for i, at in zip(remaining, stamps, strict=True) if at is not None)
        if any(at is not None for at in stamps):
            progress = time.perf_counter()
        remaining = [i for i, at in zip(remaining, stamps, strict=True) if at is None]
        if time.perf_counter() - progress > patience:
            break
        if remaining:
            await asyncio.sleep(0.2)  # not indexed yet
    return Traced(
        [at - load.sent_wall[i] for i, at in found.items()],
        [at - load.answered_wall[i] for i, at in found.items()],
        sampled,
    )


# --------------------------------------------------------------------------- report


@dataclass
class Result:
    rate: float | None  # the open loop's offered msg/s; None for the closed loop
    concurrency: int
    messages: int
    warmup: int
    endpoints: list[str]
    mix: str
    load: Load
    delivered: float  # perf_counter when the last delivery was seen
    hub_cpu: float
    hub_cpu_by_process: dict[str, float]  # the same seconds, by process (front door, workers)
    receivers_cpu: float
    client_cpu: float
    broker_cpu: float | None  # None: no broker of ours to read
    traced: Traced
    idle: IdleLevel
    min_idle: float
    hub_cpus: str | None  # the cores the hub was pinned to; None: not pinned
    target: Target

    @property
    def ingress_seconds(self) -> float:
        return self.load.finished - self.load.started

    @property
    def e2e_seconds(self) -> float:
        return self.delivered - self.load.started

    @property
    def e2e_rate(self) -> float:
        return self.load.accepted / self.e2e_seconds

    @property
    def quiet(self) -> bool:
        return self.idle.quiet_enough(self.min_idle)

    def ms(self, q: float) -> float:
        return percentile(self.load.latencies, q) * 1000

    def point(self) -> curve.Point:
        after_202 = [value * 1000 for value in self.traced.from_accept]
        return curve.Point(
            offered=self.rate or 0.0,
            achieved=self.e2e_rate,
            ingress_p50=self.ms(50),
            ingress_p99=self.ms(99),
            e2e_p50=percentile(after_202, 50) if after_202 else None,
            e2e_p99=percentile(after_202, 99) if after_202 else None,
            idle_share=self.idle.idle_share,
        )


def _verdict(ratio: float, *, higher_is_better: bool) -> str:
    met = ratio >= 1.0 if higher_is_better else ratio <= 1.0
    return "met" if met else "missed"


def _latency_rows(result: Result) -> list[tuple[str, str]]:
    traced = result.traced
    if traced.latencies:
        sent = [v * 1000 for v in traced.latencies]
        accepted = [v * 1000 for v in traced.from_accept]
        return [
            (
                "end-to-end latency",
                f"p50 {percentile(sent, 50):.1f} ms  p99 {percentile(sent, 99):.1f} ms"
                f"  (send → receiver; traces of {len(sent):,} sampled messages)",
            ),
            (
                "",
                f"p50 {percentile(accepted, 50):.1f} ms  p99 {percentile(accepted, 99):.1f} ms"
                "  (202 → receiver)",
            ),
        ]
    if traced.sampled:
        return [("end-to-end latency", "unavailable: no sampled trace showed its deliveries")]
    return [("end-to-end latency", "not measured (--latency-sample 0)")]


def report(result: Result) -> str:
    n = result.load.accepted
    ingress_rate = n / result.ingress_seconds
    e2e_rate = result.e2e_rate
    p50, p95, p99 = (result.ms(q) for q in (50, 95, 99))
    fan = len(result.endpoints)
    valid = "" if result.quiet else "; NOT VALID: the machine was busy"
    if result.rate is None:
        mode = f"closed loop, {result.concurrency} connections"
    else:
        mode = f"open loop, {result.rate:,.1f} msg/s offered (latency from the planned send)"
    rows = [
        ("machine", result.idle.describe()),
        ("load", mode),
        ("messages", f"{n:,} (+{result.warmup:,} warm-up, not counted)"),
        ("documents", result.mix),
        ("endpoints", f"{fan}: {', '.join(result.endpoints)}"),
        ("hub cores", f"pinned to {result.hub_cpus}" if result.hub_cpus else "not pinned"),
        ("ingress throughput", f"{ingress_rate:,.0f} req/s ({result.ingress_seconds:.2f} s)"),
        ("ingress latency", f"p50 {p50:.1f} ms  p95 {p95:.1f} ms  p99 {p99:.1f} ms"),
        (
            "end-to-end throughput",
            f"{e2e_rate:,.0f} msg/s ({result.e2e_seconds:.2f} s"
            + (f", {e2e_rate * fan:,.0f} deliveries/s)" if fan > 1 else ")"),
        ),
        *_latency_rows(result),
    ]
    if result.load.lags:
        lag = percentile(result.load.lags, 99) * 1000
        rows.append(("send lag", f"p99 {lag:.1f} ms behind the plan (this process's own delay)"))
    traced = result.traced
    if traced.incomplete:
        rows.append(
            (
                "",
                f"WARNING: {traced.incomplete:,} of {traced.sampled:,} sampled traces lack a "
                "delivery the receivers got: the hub's trace is incomplete",
            )
        )
    if not result.quiet:
        rows.append(
            (
                "",
                f"WARNING: under {result.min_idle:.0%} idle before the run: other work shared "
                "the cores, the figures are not comparable",
            )
        )
    elapsed = result.e2e_seconds
    rows.append(
        (
            "hub CPU",
            f"{result.hub_cpu / n * 1000:.3f} ms per message"
            f" ({result.hub_cpu / elapsed:.2f} cores busy while it ran; idle hub to idle hub)",
        )
    )
    if len(result.hub_cpu_by_process) > 1:
        rows.append(
            (
                "",
                ", ".join(
                    f"{name} {seconds / n * 1000:.3f}"
                    for name, seconds in result.hub_cpu_by_process.items()
                )
                + " ms per message (by process)",
            )
        )
    if result.broker_cpu is not None:
        rows.append(
            (
                "Kafka broker CPU",
                f"{result.broker_cpu / n * 1000:.3f} ms per message (hub + broker "
                f"{(result.hub_cpu + result.broker_cpu) / n * 1000:.3f} ms)",
            )
        )
    rows += [
        (
            "other CPU",
            f"load generator {result.client_cpu / n * 1000:.3f} ms/msg, "
            f"receivers {result.receivers_cpu / n * 1000:.3f} ms/msg (same machine)",
        ),
        ("", ""),
    ]
    p99_ratio = p99 / TARGET_INGRESS_P99_MS
    if result.rate is None:
        e2e_ratio = e2e_rate / result.target.per_s
        rows.append(
            (
                "vs target",
                f"end-to-end {e2e_rate:,.0f} msg/s = {e2e_ratio:.2f} × target of "
                f"{result.target.says} ({_verdict(e2e_ratio, higher_is_better=True)}{valid})",
            )
        )
    cpu_ratio = result.hub_cpu / n * 1000 / TARGET_HUB_CPU_MS
    rows.append(
        (
            "" if result.rate is None else "vs target",
            f"hub CPU {result.hub_cpu / n * 1000:.3f} ms per message = {cpu_ratio:.2f} × limit "
            f"of {TARGET_HUB_CPU_MS} ms ({_verdict(cpu_ratio, higher_is_better=False)}{valid})",
        )
    )
    if result.rate is not None:
        # Only under a set arrival rate: in a closed loop, latency is concurrency over
        # throughput once the hub is saturated (Little's law), whatever the hub does.
        rows.append(
            (
                "",
                f"ingress p99 {p99:.1f} ms = {p99_ratio:.2f} × limit of "
                f"{TARGET_INGRESS_P99_MS:.0f} ms ({_verdict(p99_ratio, higher_is_better=False)}"
                f"{valid})",
            )
        )
    if result.rate is not None and traced.from_accept:
        e2e_p99 = percentile(traced.from_accept, 99) * 1000
        ratio = e2e_p99 / TARGET_E2E_P99_MS
        rows.append(
            (
                "",
                f"end-to-end p99 (202 → receiver) {e2e_p99:.1f} ms = {ratio:.2f} × limit of "
                f"{TARGET_E2E_P99_MS:.0f} ms ({_verdict(ratio, higher_is_better=False)}{valid})",
            )
        )
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label:<{width}}  {value}".rstrip() for label, value in rows)


# --------------------------------------------------------------------------- the run


@dataclass
class Options:
    messages: int
    concurrency: int
    warmup: int
    fan_out: bool
    document_kb: int | None  # one document of about this size instead of the samples
    processes: int | None  # `serve --processes`; None: the hub's default
    latency_sample: int
    timeout: float
    keep: bool
    backbones: list[str] = field(default_factory=lambda: ["embedded"])
    kafka: str | None = None  # brokers to use; None: start one for the run
    rate: float | None = None  # open loop at this rate instead of the closed loop
    curve: bool = False
    curve_rates: list[float] | None = None  # None: fractions of the closed-loop maximum
    step_seconds: float = 5.0
    cores_scaling: bool = False
    min_idle: float = 0.8
    idle_seconds: float = 2.0


@dataclass
class Processes:
    """The processes of one run: what is measured and how to reach it."""

    hub: Child
    receivers: Child
    hub_url: str
    receivers_url: str
    broker_pid: int | None  # the Kafka broker this bench started, if any
    hub_cpus: str | None
    target: Target

    def broker_cpu(self) -> float:
        return 0.0 if self.broker_pid is None else cpu_seconds(self.broker_pid)

    def ours(self) -> list[Callable[[], float]]:
        """CPU readers of every process of the bench, this one included."""
        readers = [self.hub.cpu, self.receivers.cpu, time.process_time]
        return readers + ([self.broker_cpu] if self.broker_pid is not None else [])


class Driver:
    """Sends the batches of one run to one hub and measures each as a step."""

    def __init__(
        self,
        options: Options,
        procs: Processes,
        mix: Mix,
        submitter: Submitter,
        session: aiohttp.ClientSession,
        side: aiohttp.ClientSession,
    ) -> None:
        self.options = options
        self.procs = procs
        self.mix = mix
        self.submitter = submitter  # the load
        self.session = session  # reading traces after a step
        self.side = side  # the poller's own connections, never behind the load
        self.endpoints = list(ENDPOINTS) if options.fan_out else ["tax-bureau"]
        self.summary_url = f"{procs.receivers_url}{BENCH_PREFIX}"
        self.tag = uuid.uuid4().hex[:8]
        self.delivered = 0  # distinct ids every endpoint has had so far
        self.steps = 0

    async def warm_up(self) -> None:
        count = self.options.warmup
        if not count:
            return
        print(f"warming up with {count:,} messages ...", flush=True)
        ids = [f"bench-{self.tag}-warm-{i}" for i in range(count)]
        warm = await send_all(self.submitter, self.mix, ids, 50)
        if warm.failures:
            raise BenchFailure(
                f"{len(warm.failures):,} warm-up messages refused; first: {warm.failures[0]}"
            )
        deadline = time.perf_counter() + self.options.timeout
        expected = self.delivered + count
        await wait_for_deliveries(
            self.side,
            self.summary_url,
            self.endpoints,
            lambda: expected,
            lambda: deadline,
            self.procs.hub.alive,
        )
        self.delivered = expected

    async def step(self, rate: float | None, count: int) -> Result:
        """One measured batch: closed loop (``rate`` None) or open loop at ``rate`` msg/s."""
        procs, options = self.procs, self.options
        self.steps += 1
        # From an idle hub (and broker): what the warm-up or the step before left to do,
        # indexing included, is not charged to this one.
        await wait_until_idle(procs.hub.cpu)
        if procs.broker_pid is not None:
            await wait_until_idle(procs.broker_cpu, limit=5.0)
        idle = await measure_idle(procs.ours(), options.idle_seconds)
        print(f"machine: {idle.describe()}", flush=True)
        if not idle.quiet_enough(options.min_idle):
            print(
                f"WARNING: the machine is under {options.min_idle:.0%} idle: "
                "this run's figures will not be comparable",
                flush=True,
            )
        how = f"at {rate:,.1f} msg/s" if rate else f"over {options.concurrency} connections"
        print(f"sending {count:,} messages {how} ...", flush=True)
        expected = self.delivered + count
        # The watcher's lambdas read these two when called, so it sees the updates below:
        # until the load ends there is no deadline; then the hub gets --timeout to finish.
        deadline = math.inf
        hub0, receivers0, broker0 = procs.hub.cpu(), procs.receivers.cpu(), procs.broker_cpu()
        parts0 = cpu_by_process(procs.hub.pid)
        client0 = time.process_time()
        ids = [f"bench-{self.tag}-{self.steps}-{i}" for i in range(count)]
        watcher = asyncio.create_task(
            wait_for_deliveries(
                self.side,
                self.summary_url,
                self.endpoints,
                lambda: expected,
                lambda: deadline,
                procs.hub.alive,
            )
        )
        try:
            if rate is None:
                load = await send_all(self.submitter, self.mix, ids, options.concurrency)
            else:
                load = await send_open(self.submitter, self.mix, ids, rate)
        except BaseException:
            watcher.cancel()
            raise
        expected = self.delivered + load.accepted
        deadline = time.perf_counter() + options.timeout
        if load.failures:
            print(
                f"{len(load.failures):,} of {count:,} messages were refused; "
                f"first: {load.failures[0]}",
                flush=True,
            )
        print(
            f"all answers in after {load.finished - load.started:.2f} s; waiting for deliveries",
            flush=True,
        )
        delivered = await watcher
        client_cpu = time.process_time() - client0
        hub_cpu = await wait_until_idle(procs.hub.cpu) - hub0
        parts = {
            name: seconds - parts0.get(name, 0.0)
            for name, seconds in cpu_by_process(procs.hub.pid).items()
        }
        broker_cpu: float | None = None
        if procs.broker_pid is not None:
            broker_cpu = await wait_until_idle(procs.broker_cpu, limit=5.0) - broker0
        receivers_cpu = procs.receivers.cpu() - receivers0
        self.delivered = expected
        if load.failures:
            raise BenchFailure(
                f"{len(load.failures):,} of {count:,} messages were not accepted; "
                f"first: {load.failures[0]}"
            )
        await check_deliveries(self.side, self.summary_url, self.endpoints, load)
        if options.latency_sample:
            print(f"reading {options.latency_sample:,} sampled messages' traces ...", flush=True)
        traced = await sample_latencies(
            self.session,
            procs.hub_url,
            self.mix.key,
            load,
            self.endpoints,
            options.latency_sample,
        )
        return Result(
            rate=rate,
            concurrency=options.concurrency,
            messages=count,
            warmup=options.warmup,
            endpoints=self.endpoints,
            mix=self.mix.describe(),
            load=load,
            delivered=delivered,
            hub_cpu=hub_cpu,
            hub_cpu_by_process=parts,
            receivers_cpu=receivers_cpu,
            client_cpu=client_cpu,
            broker_cpu=broker_cpu,
            traced=traced,
            idle=idle,
            min_idle=options.min_idle,
            hub_cpus=procs.hub_cpus,
            target=procs.target,
        )


async def measure(options: Options, procs: Processes, mix: Mix) -> list[Result]:
    """The run's steps: one closed or open loop, or the closed-loop maximum and the curve."""
    # The open loop opens connections as the rate × latency needs them, up to a ceiling;
    # past it a request waits for a connection, and that wait counts in its latency.
    limit = OPEN_CONNECTIONS if options.rate or options.curve else options.concurrency
    submitter = Submitter(procs.hub_url, limit)
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as session,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2)) as side,
    ):
        driver = Driver(options, procs, mix, submitter, session, side)
        try:
            await driver.warm_up()
            if options.rate is not None:
                return [await driver.step(options.rate, options.messages)]
            results = [await driver.step(None, options.messages)]
            if options.curve:
                print("\n" + report(results[0]) + "\n", flush=True)
                maximum = results[0].e2e_rate
                for rate in options.curve_rates or curve.rates(maximum):
                    count = max(1, math.ceil(rate * options.step_seconds))
                    print(f"\ncurve step: {rate:,.1f} msg/s for {options.step_seconds:g} s")
                    results.append(await driver.step(rate, count))
            return results
        finally:
            await submitter.pool.close()


def receivers_child(port: int, env: dict[str, str], tmp: Path) -> Child:
    """The counting receivers (bench/receivers.py) on ``port``, logging into ``tmp``."""
    command = [sys.executable, "-m", "bench.receivers", "--port", str(port)]
    return Child("bench receivers", command, env, tmp / "receivers.log")


def serve_command(port: int, processes: int | None) -> list[str]:
    """``exchange serve`` on ``port``; ``processes`` None leaves the layout to the hub."""
    command = [sys.executable, "-m", "exchange", "serve", "--port", str(port)]
    return command + ([] if processes is None else ["--processes", str(processes)])


def _terminate(signum: int, _: FrameType | None) -> None:
    # SIGTERM would end us without running ``finally``; turn it into Ctrl-C.
    raise KeyboardInterrupt(f"signal {signum}")


def run(options: Options, backbone: str, hub_cpus: str | None = None) -> list[Result] | None:
    """One hub on ``backbone`` (pinned to ``hub_cpus`` if given), its steps, its report."""
    pin = f", hub on cores {hub_cpus}" if hub_cpus else ""
    print(f"\n== {backbone} backbone{pin} ==", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="exchange-bench-"))
    receivers_port, hub_port = free_port(), free_port()
    home = make_home(
        tmp,
        routes_yaml(receivers_port, fan_out=options.fan_out, senders=SENDERS, prefix=BENCH_PREFIX),
    )
    data_dir = tmp / "data"
    data_dir.mkdir()
    env = {**os.environ, "EXCHANGE_HOME": str(home), "EXCHANGE_DATA_DIR": str(data_dir)}
    receivers = receivers_child(receivers_port, env, tmp)
    hub = Child(
        "hub", pinned(serve_command(hub_port, options.processes), hub_cpus), env, tmp / "hub.log"
    )
    hub_url = f"http://127.0.0.1:{hub_port}"
    receivers_url = f"http://127.0.0.1:{receivers_port}"
    broker: KafkaCluster | None = None
    results: list[Result] | None = None
    try:
        if backbone == "kafka":
            bootstrap = options.kafka
            if bootstrap is None:
                print("starting a Kafka broker for the run ...", flush=True)
                broker = KafkaCluster(tmp / "kafka")
                broker.start()
                bootstrap = broker.bootstrap
            env["EXCHANGE_BACKBONE"] = f"kafka://{bootstrap}"
            env["EXCHANGE_KAFKA_PREFIX"] = f"bench-{uuid.uuid4().hex[:8]}."
        receivers.start(f"{receivers_url}{BENCH_PREFIX}")
        mix = Mix.of([(code, create_key(env, code)) for code in SENDERS])
        if options.document_kb:
            mix = mix.enlarged(options.document_kb)
        print(f"documents: {mix.describe()}", flush=True)
        hub.start(f"{hub_url}/healthz")
        procs = Processes(
            hub,
            receivers,
            hub_url,
            receivers_url,
            broker.pids.get(0) if broker is not None else None,
            hub_cpus,
            Target.of(backbone, fan_out=options.fan_out, document_kb=options.document_kb),
        )
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            results = runner.run(measure(options, procs, mix))
        if options.curve:
            print(f"\n== {backbone} backbone: latency curve (open loop) ==")
            print(
                curve.table(
                    [result.point() for result in results[1:]],
                    results[0].e2e_rate,
                    options.min_idle,
                )
            )
        else:
            print()
            print(report(results[0]))
    except BenchFailure as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        if hub.process is not None:
            print(f"last lines of the hub's log ({hub.log_path}):", file=sys.stderr)
            print(hub.log_tail(), file=sys.stderr)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the hub and the receivers", file=sys.stderr)
        raise
    finally:
        hub.stop()
        receivers.stop()
        if broker is not None:
            broker.stop()
        if results is not None and not options.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs and data kept in {tmp}", file=sys.stderr)
    return results


def _busy(*results: Result) -> str:
    low = [result for result in results if not result.quiet]
    if not low:
        return ""
    worst = min(result.idle.idle_share for result in low)
    return (
        f"\n  NOT VALID: the machine was {worst:.0%} idle before a run (under "
        f"{low[0].min_idle:.0%}): other work shared the cores; run again when quiet"
    )


def compare(results: dict[str, Result]) -> str:
    """One line per backbone after the first, as ratios to the first."""
    (base_name, base), *others = results.items()
    lines = []
    for name, other in others:
        rate = other.e2e_rate / base.e2e_rate
        p99 = percentile(other.load.latencies, 99) / percentile(base.load.latencies, 99)
        cpu = (other.hub_cpu / other.messages) / (base.hub_cpu / base.messages)
        line = (
            f"{name} vs {base_name}: end-to-end throughput {rate:.2f} ×, ingress p99 {p99:.2f} ×, "
            f"hub CPU per message {cpu:.2f} ×"
        )
        if other.broker_cpu is not None:
            line += (
                f" (+ Kafka broker {other.broker_cpu / other.messages * 1000:.3f} ms per message)"
            )
        lines.append(line + _busy(base, other))
    return "\n".join(lines)


def _floats(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: give numbers separated by commas") from exc
    if not values or any(value <= 0 for value in values):
        raise argparse.ArgumentTypeError(f"{text!r}: give rates above 0, separated by commas")
    return values


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.e2e", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--messages", type=int, default=10_000, help="measured messages")
    parser.add_argument("--concurrency", type=int, default=50, help="connections in flight")
    parser.add_argument("--warmup", type=int, default=500, help="messages sent first, unmeasured")
    parser.add_argument(
        "--fan-out", action="store_true", help="route to 3 endpoints (tax, social, registry)"
    )
    parser.add_argument(
        "--document-kb",
        type=int,
        help="send one document of about this many KB (up to ~110) instead of the samples",
    )
    parser.add_argument(
        "--processes",
        type=int,
        choices=(1, 2, 3),
        help="run the hub as 'serve --processes N' (default: the hub's own, one per core)",
    )
    parser.add_argument(
        "--latency-sample", type=int, default=1000, help="traces read for end-to-end latency"
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds allowed for deliveries after ingress"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs, data)")
    parser.add_argument(
        "--backbone",
        default="embedded",
        help="embedded, kafka, or both comma-separated (run one after the other and compared)",
    )
    parser.add_argument(
        "--kafka", help="HOST:PORT,... of running brokers (default: start one for the run)"
    )
    parser.add_argument(
        "--rate", type=float, help="open loop: send --messages at this many per second"
    )
    parser.add_argument(
        "--curve",
        action="store_true",
        help="closed-loop maximum, then open-loop steps at 25/50/75/90/100 %% of it",
    )
    parser.add_argument(
        "--curve-rates", type=_floats, help="R,R,...: the curve's rates instead of fractions"
    )
    parser.add_argument("--step-seconds", type=float, default=5.0, help="length of each curve step")
    parser.add_argument(
        "--cores-scaling",
        action="store_true",
        help="closed-loop runs with the hub on core 0, then on cores 0,1; their ratio",
    )
    parser.add_argument(
        "--min-idle",
        type=float,
        default=80.0,
        help="percent idle (of the cores the bench does not use) below which runs are not valid",
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=2.0, help="how long the idle level is read"
    )
    args = parser.parse_args(argv)
    backbones = [name.strip() for name in args.backbone.split(",") if name.strip()]
    if not backbones or set(backbones) - {"embedded", "kafka"}:
        parser.error("--backbone takes embedded, kafka or embedded,kafka")
    for name in ("messages", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0 or args.latency_sample < 0 or args.timeout <= 0:
        parser.error("--warmup and --latency-sample must be >= 0 and --timeout > 0")
    if args.rate is not None and args.rate <= 0:
        parser.error(f"--rate {args.rate}: give a rate above 0 messages per second")
    curve_on = args.curve or args.curve_rates is not None
    if sum([args.rate is not None, curve_on, args.cores_scaling]) > 1:
        parser.error("--rate, --curve and --cores-scaling are separate runs: give one of them")
    if args.step_seconds <= 0 or args.idle_seconds <= 0:
        parser.error("--step-seconds and --idle-seconds must be above 0")
    if not 0 <= args.min_idle <= 100:
        parser.error(f"--min-idle {args.min_idle}: give a percentage between 0 and 100")
    if args.cores_scaling and (os.cpu_count() or 1) < 2:
        parser.error("--cores-scaling needs 2 cores; this machine has one")
    if args.cores_scaling and shutil.which("taskset") is None:
        parser.error("--cores-scaling needs taskset (util-linux): install it or leave it out")
    return Options(
        messages=args.messages,
        concurrency=args.concurrency,
        warmup=args.warmup,
        fan_out=args.fan_out,
        document_kb=args.document_kb,
        processes=args.processes,
        latency_sample=args.latency_sample,
        timeout=args.timeout,
        keep=args.keep,
        backbones=backbones,
        kafka=args.kafka,
        rate=args.rate,
        curve=curve_on,
        curve_rates=args.curve_rates,
        step_seconds=args.step_seconds,
        cores_scaling=args.cores_scaling,
        min_idle=args.min_idle / 100,
        idle_seconds=args.idle_seconds,
    )


def scale(options: Options, backbone: str) -> bool:
    """The hub on core 0, then on cores 0 and 1; the load generator and receivers unpinned."""
    runs: list[Result] = []
    for cpus in ("0", "0,1"):
        results = run(options, backbone, hub_cpus=cpus)
        if results is None:
            return False
        runs.append(results[0])
    one, two = runs
    print(
        f"\n{backbone}: "
        + curve.scaling(
            one.e2e_rate,
            two.e2e_rate,
            [one.idle.idle_share, two.idle.idle_share],
            options.min_idle,
        )
    )
    print(
        f"  hub CPU per message {one.hub_cpu / one.messages * 1000:.3f} → "
        f"{two.hub_cpu / two.messages * 1000:.3f} ms; cores busy "
        f"{one.hub_cpu / one.e2e_seconds:.2f} → {two.hub_cpu / two.e2e_seconds:.2f}"
    )
    return True


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    results: dict[str, Result] = {}
    try:
        for backbone in options.backbones:
            if options.cores_scaling:
                if not scale(options, backbone):
                    return 1
                continue
            found = run(options, backbone)
            if found is None:
                return 1
            results[backbone] = found[0]
    except KeyboardInterrupt:
        return 1
    if len(results) > 1:
        print("\n" + compare(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
