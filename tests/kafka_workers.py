"""Helpers for the hub-on-Kafka failure tests: worker processes, a steady sender, and ways to
see which process delivered what and when a consumer group moved partitions."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import httpx
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from lxml import etree

from tests.harness import SAMR_SAMPLES, FakeDepartment, HubProcess

ENDPOINTS = ("tax-bureau", "legal-entity-registry", "social-security")


def sample_with_employees() -> bytes:
    """A valid SAMR registration that routes to all three endpoints (social security needs
    employees)."""
    ns = {"s": "urn:cn:gov:samr:enterprise-registration:1"}
    for path in sorted((SAMR_SAMPLES / "valid").glob("*.xml")):
        count = etree.parse(str(path)).xpath(
            "number(/s:EnterpriseRegistration/s:EmployeeCount)", namespaces=ns
        )
        if isinstance(count, float) and count > 0:
            return path.read_bytes()
    raise AssertionError("no SAMR sample with employees")


# --- processes ---------------------------------------------------------------------------------


@dataclass
class WorkerProcess:
    """``exchange worker NAMES...`` in a child process with the hub's home and settings."""

    hub: HubProcess
    names: tuple[str, ...]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _log_file: BinaryIO | None = None

    def start(self) -> WorkerProcess:
        env = {
            **os.environ,
            "EXCHANGE_HOME": str(self.hub.home),
            "EXCHANGE_DATA_DIR": str(self.hub.data_dir),
            **self.hub.env,
        }
        self.hub.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.hub.data_dir / f"worker-{'-'.join(self.names)}-{time.time_ns()}.log"
        self._log_file = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "exchange", "worker", *self.names],
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def child_pids(pid: int) -> list[int]:
    """The direct children of ``pid`` (e.g. the worker process of ``serve --processes 2``)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


# --- who delivered -----------------------------------------------------------------------------


class PeerTracker:
    """Tells which hub process made each call to the fake departments.

    The receiver notes the client port of every call it stores; a sampling thread maps the
    open TCP connections of the watched processes to them (via /proc: the delivery egress
    keeps its connections alive, so each is seen many times while in use)."""

    def __init__(self, dept: FakeDepartment, pids: dict[str, int]) -> None:
        self._dept = dept
        self._pids = pids
        self.ports_seen: Counter[int] = Counter()
        self.owner: dict[int, str] = {}  # client port -> process label
        self.calls: list[tuple[str, str, int]] = []  # (endpoint, hub id, client port) in order
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_forever, daemon=True)

    def install(self, endpoints: tuple[str, ...] = ENDPOINTS) -> PeerTracker:
        def note(request: web.Request, _: int) -> web.Response | None:
            peer = request.transport.get_extra_info("peername") if request.transport else None
            if peer is not None:
                self.ports_seen[int(peer[1])] += 1
                self.calls.append(
                    (request.path.strip("/"), request.headers["X-Exchange-Id"], peer[1])
                )
            return None  # answer as usual (200)

        for name in endpoints:
            self._dept.behaviours[name] = note
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _sample_forever(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(0.1)

    def sample(self) -> None:
        ports = _client_ports_to(self._dept.port)
        for label, pid in self._pids.items():
            for inode in _socket_inodes(pid):
                port = ports.get(inode)
                if port is not None:
                    self.owner[port] = label

    def calls_by(self) -> Counter[str]:
        """Receiver calls per process label ('?' for a connection never sampled)."""
        found: Counter[str] = Counter()
        for port, calls in list(self.ports_seen.items()):
            found[self.owner.get(port, "?")] += calls
        return found

    def duplicates_first_sent_by(self) -> Counter[str]:
        """For each message a receiver got more than once: which process sent the first copy."""
        first: dict[tuple[str, str], int] = {}
        repeated: set[tuple[str, str]] = set()
        for endpoint, ident, port in list(self.calls):
            if (endpoint, ident) in first:
                repeated.add((endpoint, ident))
            else:
                first[(endpoint, ident)] = port
        return Counter(self.owner.get(first[call], "?") for call in repeated)


def _socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _client_ports_to(server_port: int) -> dict[int, int]:
    """socket inode -> local port, for loopback TCP connections to ``server_port``."""
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, remote, inode = parts[1], parts[2], int(parts[9])
        if int(remote.split(":")[1], 16) == server_port and inode:
            found[inode] = int(local.split(":")[1], 16)
    return found


# --- consumer-group moves, from aiokafka's log lines ---------------------------------------------

_ASSIGNED = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO aiokafka\.consumer\.group_coordinator: "
    r"Setting newly assigned partitions (?P<parts>.*) for group (?P<group>\S+)$",
    re.MULTILINE,
)
_PARTITION = re.compile(r"topic='(?P<topic>[^']+)', partition=(?P<partition>\d+)")


@dataclass(frozen=True)
class Assignment:
    at: float  # Unix time of the log line
    group: str
    partitions: frozenset[tuple[str, int]]


def assignments(log: str, group: str) -> list[Assignment]:
    """Every 'Setting newly assigned partitions' line of ``group`` in a hub log, in order."""
    found = []
    for match in _ASSIGNED.finditer(log):
        # "delivery" also names its per-endpoint groups "delivery.<endpoint>"
        if match["group"] != group and not match["group"].startswith(group + "."):
            continue
        stamp = datetime.strptime(match["time"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        parts = frozenset(
            (m["topic"], int(m["partition"])) for m in _PARTITION.finditer(match["parts"])
        )
        found.append(Assignment(stamp, group, parts))
    return found


# --- traffic -----------------------------------------------------------------------------------


@dataclass
class Traffic:
    """Posts distinct messages to a hub from a few threads until stopped (or ``limit``)."""

    url: str
    key: str
    body: bytes
    prefix: str
    threads: int = 4
    limit: int | None = None
    timeout: float = 60.0
    accepted: set[str] = field(default_factory=set)
    accepted_at: dict[str, float] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    slowest: float = 0.0  # seconds, the longest wait for an answer
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _pool: ThreadPoolExecutor | None = None

    def start(self) -> Traffic:
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="traffic")
        for _ in range(self.threads):
            self._pool.submit(self._send_until_stopped)
        return self

    def count(self) -> int:
        with self._lock:
            return len(self.accepted)

    def stop(self) -> None:
        """Stop sending (requests under way finish first)."""
        self._stop.set()
        self.finish()

    def finish(self) -> None:
        """Wait until ``limit`` messages were sent."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def wait_accepted(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"only {self.count()} of {count} messages accepted in {timeout} s; "
                    f"answers {dict(self.statuses)}, errors {dict(self.errors)}"
                )
            time.sleep(0.05)

    def _take_number(self) -> int | None:
        with self._lock:
            if self.limit is not None and self._next >= self.limit:
                return None
            self._next += 1
            return self._next

    def _send_until_stopped(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while not self._stop.is_set():
                number = self._take_number()
                if number is None:
                    return
                sent = time.monotonic()
                try:
                    answer = client.post(
                        f"{self.url}/v1/messages",
                        content=self.body,
                        headers={
                            "Authorization": f"Bearer {self.key}",
                            "Content-Type": "application/xml",
                            "X-Exchange-Message-Id": f"{self.prefix}-{number}",
                        },
                    )
                except httpx.HTTPError as exc:
                    # Never acknowledged: a real sender would try again; not counted.
                    with self._lock:
                        self.errors[type(exc).__name__] += 1
                    time.sleep(0.2)
                    continue
                with self._lock:
                    self.slowest = max(self.slowest, time.monotonic() - sent)
                    self.statuses[answer.status_code] += 1
                    if answer.status_code == 202:
                        ident = answer.json()["id"]
                        self.accepted.add(ident)
                        self.accepted_at[ident] = time.time()
                if answer.status_code != 202:
                    time.sleep(0.2)  # the hub said "try again shortly"


def undelivered(dept: FakeDepartment, accepted: set[str]) -> dict[str, int]:
    return {name: len(accepted - dept.distinct_ids(name)) for name in ENDPOINTS}


def duplicates(dept: FakeDepartment) -> dict[str, int]:
    """Calls a receiver got beyond the first per message id (delivery is at least once)."""
    return {
        name: len(dept.received.get(name, [])) - len(dept.distinct_ids(name)) for name in ENDPOINTS
    }


# --- the cluster's view ------------------------------------------------------------------------


def partition_leaders(bootstrap: str, topic: str) -> dict[int, int]:
    """partition -> node id of its leader, as the cluster sees it now."""

    async def describe() -> dict[int, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            (info,) = await admin.describe_topics([topic])
        finally:
            await admin.close()
        return {int(p["partition"]): int(p["leader"]) for p in info["partitions"]}

    with ThreadPoolExecutor(1) as pool:  # its own loop, whatever the caller runs
        return pool.submit(asyncio.run, describe()).result(timeout=30)


def latest_by_endpoint(
    found: list[Assignment], prefix: str
) -> dict[str, frozenset[tuple[str, int]]]:
    """The newest non-empty assignment of each endpoint's delivery consumer in one process.

    A process runs one delivery consumer per endpoint (on ``deliver.<endpoint>`` and
    ``retry.<endpoint>``), all in one group: the topics tell them apart."""
    latest: dict[str, frozenset[tuple[str, int]]] = {}
    for assignment in found:
        endpoint = endpoint_of(assignment, prefix)
        if endpoint is not None:
            latest[endpoint] = assignment.partitions
    return latest


def endpoint_of(assignment: Assignment, prefix: str) -> str | None:
    """The endpoint whose delivery consumer got ``assignment`` (None if it is empty)."""
    for topic, _ in assignment.partitions:
        return topic[len(prefix) :].split(".", 1)[1]
    return None


def uncommitted(bootstrap: str, group: str, topics: list[str], partitions: int) -> dict[str, int]:
    """Records of ``topics`` past ``group``'s committed offsets, per topic (read_committed):
    what the group would handle again after a restart. Empty once the group has caught up."""

    async def count() -> dict[str, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            committed = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
        reader = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False
        )
        await reader.start()
        found: Counter[str] = Counter()
        try:
            wanted = [TopicPartition(t, p) for t in topics for p in range(partitions)]
            reader.assign(wanted)
            for position in wanted:
                mark = committed.get(position)
                if mark is None or mark.offset < 0:
                    await reader.seek_to_beginning(position)
                else:
                    reader.seek(position, mark.offset)
            deadline = time.monotonic() + 10
            empty = 0
            while empty < 2 and time.monotonic() < deadline:
                batches = await reader.getmany(timeout_ms=300)
                empty = 0 if batches else empty + 1
                for position, records in batches.items():
                    found[position.topic] += len(records)
        finally:
            await reader.stop()
        return dict(found)

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, count()).result(timeout=60)


def pipeline_lag(bootstrap: str, prefix: str, partitions: int) -> dict[str, int]:
    """What the router and the delivery groups have not committed yet (empty: caught up)."""
    lag = uncommitted(bootstrap, prefix + "router", [prefix + "inbound"], partitions)
    for name in ENDPOINTS:
        topics = [prefix + f"{kind}.{name}" for kind in ("deliver", "retry")]
        lag.update(uncommitted(bootstrap, f"{prefix}delivery.{name}", topics, partitions))
    return lag


def assignment_summary(log: str, group: str, prefix: str) -> str:
    """One line for a failure message: what each endpoint's delivery consumer holds, by the
    log, and how many rebalances handed a consumer nothing."""
    found = assignments(log, group)
    latest = latest_by_endpoint(found, prefix)
    held = {
        name: sorted(f"{topic[len(prefix) :]}[{part}]" for topic, part in latest[name])
        for name in sorted(latest)
    }
    never = [name for name in ENDPOINTS if name not in latest]
    empty = sum(1 for a in found if not a.partitions)
    return (
        f"group {group}: newest assignments {held}; endpoints never assigned a partition "
        f"{never}; empty assignments {empty} of {len(found)}"
    )
