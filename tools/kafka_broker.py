"""Run a real Apache Kafka broker, or a small KRaft cluster, from Maven Central jars.

The hub's Kafka tests and developers need a real broker, and Kafka's release tarball is not
always reachable; Maven Central is. ``tools/kafka/pom.xml`` names the broker's jars; Maven
copies them once into a cache (``~/.cache/exchange-hub/kafka-<version>/libs``), and this module
runs ``kafka.Kafka`` from them with Java 17+.

Every node is both broker and controller (KRaft, no ZooKeeper), listens on 127.0.0.1 only, and
keeps its data, configuration and log in ``<root>/node-<id>/``::

    with KafkaCluster(tmp_path, nodes=3) as cluster:
        producer = AIOKafkaProducer(bootstrap_servers=cluster.bootstrap, ...)
        cluster.stop_node(1)    # SIGTERM; the other two keep the partitions available
        cluster.start_node(1)   # same config and data; returns once it is registered again

From the shell (``make kafka-up`` / ``make kafka-down``)::

    python -m tools.kafka_broker up [--data var/kafka] [--port 9092] [--nodes 1]
    python -m tools.kafka_broker status | down | jars
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from aiokafka.admin import AIOKafkaAdminClient

KAFKA_DIR = Path(__file__).resolve().parent / "kafka"
POM = KAFKA_DIR / "pom.xml"
LOG4J_CONFIG = KAFKA_DIR / "log4j2.properties"
MIN_JAVA = 17
# The hub documents records up to 8 MiB; the broker takes twice that so the limit is the hub's.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# Small heaps: tests run three brokers and a hub on a two-core machine.
JVM_OPTIONS = (
    "-Xms256m",
    "-Xmx768m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
STATE_FILE = "cluster.json"
# What the brokers write (data, logs) is their owner's only, in node folders kept 0700.
PRIVATE_UMASK = 0o077
JAVA_HINT = "install Java 17 or newer (apt-get install openjdk-17-jre-headless) or set JAVA_HOME"


class KafkaToolError(RuntimeError):
    """Kafka cannot be fetched, started or stopped; the message says what to do."""


# --- jars and Java -----------------------------------------------------------------------------


def kafka_version() -> str:
    """The Kafka release the pom asks for (its ``kafka.version`` property)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(POM).getroot().find("m:properties/m:kafka.version", ns)
    if node is None or not (node.text or "").strip():
        raise KafkaToolError(f"{POM} has no <kafka.version> property: restore it from git")
    return (node.text or "").strip()


def cache_dir() -> Path:
    """Where fetched jars live across runs: $EXCHANGE_HUB_CACHE, else the XDG cache folder."""
    explicit = os.environ.get("EXCHANGE_HUB_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "exchange-hub"


def java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise KafkaToolError(f"Java not found: {JAVA_HINT}")
    return found


def java_major_version(version_output: str) -> int | None:
    """The major version in ``java -version`` output ("1.8.0_392" is 8, "17.0.15" is 17)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2) is not None:
        return int(match.group(2))
    return major


def check_java() -> None:
    """Raise KafkaToolError unless ``java`` runs and is version 17 or newer (Kafka 4 needs 17)."""
    java = java_executable()
    try:
        result = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KafkaToolError(f"{java} -version failed ({exc}): {JAVA_HINT}") from exc
    # java -version writes to stderr.
    output = result.stderr + result.stdout
    major = java_major_version(output)
    if result.returncode != 0 or major is None:
        first = output.strip().splitlines()[:1]
        raise KafkaToolError(f"{java} -version did not report a version ({first}): {JAVA_HINT}")
    if major < MIN_JAVA:
        raise KafkaToolError(f"{java} is Java {major}, Kafka needs {MIN_JAVA}+: {JAVA_HINT}")


def ensure_jars() -> Path:
    """The folder of the broker's jars, fetched with Maven on first use and cached after.

    A stamp holding the pom's hash marks a complete fetch: a later call with the same pom
    does not run Maven at all; an edited pom (another Kafka version) fetches again.
    """
    home = cache_dir() / f"kafka-{kafka_version()}"
    libs = home / "libs"
    stamp = home / "fetched.stamp"
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()

    def fetched() -> bool:
        # The jar check catches a cache someone emptied by hand behind the stamp's back.
        complete = stamp.is_file() and stamp.read_text().strip() == digest
        return complete and any(libs.glob("kafka_2.13-*.jar"))

    if fetched():
        return libs
    check_java()
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaToolError("Maven not found (needed once to fetch Kafka): apt-get install maven")
    home.mkdir(parents=True, exist_ok=True)
    # Two test runs may start at once: one fetches, the other waits and reuses.
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if fetched():
            return libs
        # Fetch beside the old folder and swap: brokers may be starting from it right now.
        fresh, old = home / "libs.fetching", home / "libs.old"
        shutil.rmtree(fresh, ignore_errors=True)
        argv = [mvn, "-B", "-q", "-f", str(POM), f"-Dkafka.libs.dir={fresh}", "package"]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not any(fresh.glob("kafka_2.13-*.jar")):
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise KafkaToolError(
                f"fetching Kafka's jars with Maven failed (exit {result.returncode}); "
                f"check network access to Maven Central and {POM}:\n{tail}"
            )
        shutil.rmtree(old, ignore_errors=True)
        if libs.exists():
            libs.rename(old)
        fresh.rename(libs)
        shutil.rmtree(old, ignore_errors=True)
        stamp.write_text(digest + "\n")
    return libs


# --- processes ---------------------------------------------------------------------------------


def new_cluster_id() -> str:
    """16 random bytes, URL-safe base64 as Kafka's own tool makes them; never starting with
    '-', which the storage tool's argument parser would take for an option."""
    while True:
        cluster_id = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _private_log(path: Path, mode: str = "ab") -> IO[bytes]:
    """``path`` opened for writing (``mode``), created readable by its owner only."""
    return open(path, mode, opener=lambda name, flags: os.open(name, flags, 0o600))


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _log_excerpt(path: Path, lines: int = 15, start: int = 0) -> str:
    """The log's first errors and their causes, then its tail: a failed broker logs its reason
    once and then pages of orderly shutdown, so the tail alone rarely says why. ``start``: the
    byte offset where this run's output begins (logs are appended to across restarts)."""
    try:
        with path.open("rb") as log:
            log.seek(start)
            text = log.read().decode(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    causes = [
        line
        for line in text
        if " ERROR " in line or " FATAL " in line or line.startswith("Caused by:")
    ][:lines]
    tail = text[-lines:]
    if not causes:
        return "\n".join(tail)
    return "\n".join([*causes, "...", *tail])


def _registered_brokers(bootstrap: str, timeout_s: float) -> set[int]:
    """The node ids the cluster lists in a metadata answer: registered, unfenced brokers."""

    async def describe() -> set[int]:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=max(1000, int(timeout_s * 1000))
        )
        try:
            await admin.start()
            info = await admin.describe_cluster()
        finally:
            await admin.close()
        return {int(broker["node_id"]) for broker in info["brokers"]}

    # A thread with its own event loop: callers may be inside a running loop (async tests).
    with ThreadPoolExecutor(1, thread_name_prefix="kafka-ready") as pool:
        return pool.submit(asyncio.run, describe()).result()


def load_state(root: Path) -> dict[str, Any]:
    """What ``start`` recorded in ``root/cluster.json`` (ports, cluster id), or {} if nothing."""
    path = root / STATE_FILE
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise KafkaToolError(
            f"{path} is unreadable ({exc}): remove {root} and start again"
        ) from exc
    return state


class KafkaCluster:
    """N KRaft nodes (each ``broker,controller``) on 127.0.0.1, data under ``root``.

    Node ids are 0..N-1 and are also the indexes the methods take. ``detach=True`` (the CLI)
    leaves the brokers running when this process exits; otherwise they die with it.
    """

    def __init__(
        self,
        root: Path | str,
        nodes: int = 1,
        *,
        ports: Sequence[int] | None = None,
        controller_ports: Sequence[int] | None = None,
        detach: bool = False,
    ) -> None:
        if nodes < 1:
            raise KafkaToolError(f"nodes={nodes}: a cluster needs at least one node")
        self.root = Path(root).resolve()
        self.nodes = nodes
        self.detach = detach
        saved = load_state(self.root)
        if saved and len(saved["ports"]) != nodes:
            raise KafkaToolError(
                f"{self.root} holds a {len(saved['ports'])}-node cluster, not {nodes}: "
                f"use --nodes {len(saved['ports'])} or remove {self.root}"
            )
        self.ports = self._pick(ports, saved.get("ports"), "ports")
        self.controller_ports = self._pick(
            controller_ports, saved.get("controller_ports"), "controller_ports"
        )
        self.cluster_id: str = saved.get("cluster_id") or new_cluster_id()
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._log_starts: dict[int, int] = {}

    def _pick(self, given: Sequence[int] | None, saved: list[int] | None, name: str) -> list[int]:
        if given is not None:
            if len(given) != self.nodes:
                raise KafkaToolError(f"{name}={list(given)}: give one port per node")
            return list(given)
        return list(saved) if saved else [free_port() for _ in range(self.nodes)]

    # -- layout and configuration

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.ports)

    @property
    def min_insync_replicas(self) -> int:
        """1 for one node; otherwise 2, so acks=all survives one node being down."""
        return 1 if self.nodes == 1 else 2

    @property
    def replication_factor(self) -> int:
        return min(3, self.nodes)

    def node_dir(self, node: int) -> Path:
        return self.root / f"node-{node}"

    def log_path(self, node: int) -> Path:
        return self.node_dir(node) / "kafka.log"

    def pid_path(self, node: int) -> Path:
        return self.node_dir(node) / "kafka.pid"

    def config_path(self, node: int) -> Path:
        return self.node_dir(node) / "server.properties"

    def log_tail(self, node: int, lines: int = 40) -> str:
        return _tail(self.log_path(node), lines)

    def log_excerpt(self, node: int, lines: int = 15) -> str:
        """Errors and the tail of the node's log since its last start."""
        return _log_excerpt(self.log_path(node), lines, self._log_starts.get(node, 0))

    def server_properties(self, node: int) -> dict[str, str]:
        voters = ",".join(f"{i}@127.0.0.1:{port}" for i, port in enumerate(self.controller_ports))
        rf = str(self.replication_factor)
        isr = str(self.min_insync_replicas)
        port, cport = self.ports[node], self.controller_ports[node]
        return {
            "process.roles": "broker,controller",
            "node.id": str(node),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.node_dir(node) / "data"),
            "num.partitions": "3",
            "default.replication.factor": rf,
            "min.insync.replicas": isr,
            # Internal topics: few partitions so the first group or transaction starts fast.
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": "6",
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": isr,
            "transaction.state.log.num.partitions": "6",
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": isr,
            "share.coordinator.state.topic.num.partitions": "6",
            "group.initial.rebalance.delay.ms": "0",
            # The hub creates its topics with the partitions and replication it wants.
            "auto.create.topics.enable": "false",
            "message.max.bytes": str(MAX_MESSAGE_BYTES),
            "replica.fetch.max.bytes": str(MAX_MESSAGE_BYTES),
            # Fewer threads than the defaults (3 network, 8 I/O): two cores, several brokers.
            "num.network.threads": "2",
            "num.io.threads": "4",
        }

    def _write_config(self, node: int) -> Path:
        path = self.config_path(node)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.chmod(0o700)  # also a node folder made looser by an earlier version
        lines = [f"{key}={value}" for key, value in self.server_properties(node).items()]
        path.write_text(
            "# Written by tools/kafka_broker.py; rewritten at every start.\n"
            + "\n".join(lines)
            + "\n"
        )
        return path

    def _save_state(self) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        state = {
            "kafka_version": kafka_version(),
            "cluster_id": self.cluster_id,
            "ports": self.ports,
            "controller_ports": self.controller_ports,
            "bootstrap": self.bootstrap,
        }
        (self.root / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    # -- processes

    def _java_argv(self, libs: Path, main: str, *args: str) -> list[str]:
        return [
            java_executable(),
            *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]

    def _format(self, libs: Path) -> None:
        """Format every node's log directory that is not formatted yet (in parallel)."""
        running: list[tuple[int, subprocess.Popen[bytes]]] = []
        for node in range(self.nodes):
            config = self._write_config(node)
            if (self.node_dir(node) / "data" / "meta.properties").is_file():
                continue
            argv = self._java_argv(
                libs, "kafka.tools.StorageTool", "format", "-t", self.cluster_id, "-c", str(config)
            )
            with _private_log(self.node_dir(node) / "format.log", "wb") as out:
                proc = subprocess.Popen(
                    argv,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    umask=PRIVATE_UMASK,
                )
            running.append((node, proc))
        failed = [
            f"node {node}: {_tail(self.node_dir(node) / 'format.log', 15)}"
            for node, proc in running
            if proc.wait() != 0
        ]
        if failed:
            raise KafkaToolError("formatting Kafka's storage failed:\n" + "\n".join(failed))

    def _spawn(self, node: int, libs: Path) -> None:
        config = self._write_config(node)
        argv = self._java_argv(libs, "kafka.Kafka", str(config))
        # Tie the broker's life to ours (SIGKILL when we die, even by SIGKILL), so no broker
        # outlives a crashed test run. setpriv sets PR_SET_PDEATHSIG and execs java, so the pid
        # stays the broker's. Only from the main thread: the signal fires when the spawning
        # *thread* ends, and a worker thread may end long before the test run does.
        setpriv = shutil.which("setpriv")
        if not self.detach and setpriv and threading.current_thread() is threading.main_thread():
            argv = [setpriv, "--pdeathsig", "KILL", "--", *argv]
        with _private_log(self.log_path(node)) as log:
            self._log_starts[node] = log.tell()
            proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.node_dir(node),
                umask=PRIVATE_UMASK,
                # Detached brokers (the CLI) must not get the terminal's Ctrl-C.
                start_new_session=self.detach,
            )
        self._procs[node] = proc
        self.pid_path(node).write_text(f"{proc.pid}\n")

    def pid(self, node: int) -> int | None:
        """The node's broker process id while it runs (ours, or one from its pid file)."""
        proc = self._procs.get(node)
        if proc is not None:
            return proc.pid if proc.poll() is None else None
        try:
            pid = int(self.pid_path(node).read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        # The pid file may be stale and the pid reused: it must be this node's broker.
        if b"kafka.Kafka" in cmdline and str(self.config_path(node)).encode() in cmdline:
            return pid
        return None

    @property
    def pids(self) -> dict[int, int]:
        """Running nodes: node id -> process id."""
        found = {node: self.pid(node) for node in range(self.nodes)}
        return {node: pid for node, pid in found.items() if pid is not None}

    def _wait_ready(self, waiting: Sequence[int], timeout: float) -> None:
        """Wait until each node in ``waiting`` answers metadata listing every running node."""
        deadline = time.monotonic() + timeout
        problem = "no broker port open yet"
        while True:
            for node in waiting:
                if self.pid(node) is None:
                    raise KafkaToolError(
                        f"Kafka node {node} exited during start; from its log "
                        f"({self.log_path(node)}):\n{self.log_excerpt(node)}"
                    )
            expected = set(self.pids)
            if all(_port_open(self.ports[node]) for node in waiting):
                try:
                    seen = [
                        _registered_brokers(f"127.0.0.1:{self.ports[node]}", 5.0)
                        for node in waiting
                    ]
                except Exception as exc:  # not ready yet: any client error means "retry"
                    problem = f"{type(exc).__name__}: {exc}"
                else:
                    if all(expected <= brokers for brokers in seen):
                        return
                    problem = (
                        f"registered brokers {sorted(set().union(*seen))}, want {sorted(expected)}"
                    )
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- node {n}:\n{self.log_excerpt(n, 10)}" for n in waiting)
                raise KafkaToolError(
                    f"Kafka not ready after {timeout:.0f}s ({problem}); logs under {self.root}:\n"
                    f"{tails}"
                )
            time.sleep(0.25)

    def start(self, timeout: float = 90) -> None:
        """Format what is not formatted, start every stopped node, wait until clients are served."""
        libs = ensure_jars()
        check_java()
        self._save_state()
        self._format(libs)
        try:
            for node in range(self.nodes):
                if self.pid(node) is None:
                    self._spawn(node, libs)
            self._wait_ready(range(self.nodes), timeout)
        except BaseException:
            self.stop(timeout=10)
            raise

    def start_node(self, node: int, timeout: float = 90) -> None:
        """Start a stopped node with its config and data; return once the cluster lists it."""
        if self.pid(node) is not None:
            raise KafkaToolError(f"Kafka node {node} is already running (pid {self.pid(node)})")
        self._spawn(node, ensure_jars())
        self._wait_ready([node], timeout)

    def _signal_and_wait(self, node: int, sig: signal.Signals, timeout: float) -> bool:
        """Send ``sig`` to the node's broker and wait for it to exit; False if it did not."""
        pid = self.pid(node)
        if pid is None:
            return True
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        proc = self._procs.get(node)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=0.1)
            else:
                time.sleep(0.1)
            if self.pid(node) is None:
                return True
        return False

    def stop_node(self, node: int, timeout: float = 30) -> None:
        """SIGTERM (Kafka's clean shutdown), then SIGKILL if it is still there after timeout."""
        if not self._signal_and_wait(node, signal.SIGTERM, timeout):
            self._signal_and_wait(node, signal.SIGKILL, 30)
        self.pid_path(node).unlink(missing_ok=True)

    def kill_node(self, node: int) -> None:
        """SIGKILL: a crash, no clean shutdown."""
        self._signal_and_wait(node, signal.SIGKILL, 30)
        self.pid_path(node).unlink(missing_ok=True)

    def stop(self, timeout: float = 30) -> None:
        """Stop every node: SIGTERM to all at once, SIGKILL to those still up after timeout."""
        running = self.pids
        for pid in running.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        # One deadline for all: they shut down in parallel.
        deadline = time.monotonic() + timeout
        for node in running:
            self.stop_node(node, max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> KafkaCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --- command line ------------------------------------------------------------------------------


def _cli_cluster(args: argparse.Namespace) -> KafkaCluster:
    root = Path(args.data)
    nodes = getattr(args, "nodes", None)
    if nodes is None:
        saved = load_state(root)
        nodes = len(saved.get("ports", [])) or 1
    port = getattr(args, "port", None)
    ports = controller_ports = None
    if port is not None:
        if not 1024 <= port <= 65535 - 1000 - nodes:
            raise KafkaToolError(f"--port {port}: choose a port between 1024 and {64535 - nodes}")
        ports = [port + i for i in range(nodes)]
        # Controllers listen 1000 above their broker port: 9092 -> 10092.
        controller_ports = [port + 1000 + i for i in range(nodes)]
    return KafkaCluster(root, nodes, ports=ports, controller_ports=controller_ports, detach=True)


def _cmd_up(args: argparse.Namespace) -> None:
    cluster = _cli_cluster(args)
    # Brokers already running keep the ports they were started with (cluster.json).
    current = KafkaCluster(cluster.root, cluster.nodes, detach=True)
    if current.pids:
        cluster = current
    running = cluster.pids
    if len(running) == cluster.nodes:
        print(f"Kafka is already running in {cluster.root} (pids {sorted(running.values())}).")
    else:
        started = time.monotonic()
        cluster.start(timeout=args.timeout)
        print(
            f"Kafka {kafka_version()} started: {cluster.nodes} node(s) in {cluster.root} "
            f"({time.monotonic() - started:.1f}s); logs in {cluster.root}/node-*/kafka.log"
        )
    print(f"bootstrap: {cluster.bootstrap}")
    print(f"point the hub at it: EXCHANGE_BACKBONE=kafka://{cluster.bootstrap}")
    default = args.data == "var/kafka"
    down = "make kafka-down" if default else f"python -m tools.kafka_broker down --data {args.data}"
    print(f"stop it with: {down}")


def _cmd_down(args: argparse.Namespace) -> None:
    cluster = _cli_cluster(args)
    running = cluster.pids
    if not running:
        print(f"Kafka is not running in {cluster.root}.")
        return
    cluster.stop(timeout=args.timeout)
    print(f"Kafka stopped (pids {sorted(running.values())}).")


def _cmd_status(args: argparse.Namespace) -> int:
    cluster = _cli_cluster(args)
    running = cluster.pids
    for node in range(cluster.nodes):
        pid = running.get(node)
        state = f"running, pid {pid}" if pid else "stopped"
        print(f"node {node}: 127.0.0.1:{cluster.ports[node]} {state}")
    if not running:
        return 1
    try:
        brokers = _registered_brokers(cluster.bootstrap, 5.0)
    except Exception as exc:
        print(f"not answering clients: {type(exc).__name__}: {exc}")
        return 1
    print(f"registered brokers: {sorted(brokers)}; bootstrap: {cluster.bootstrap}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.kafka_broker", description="Run Apache Kafka for the hub."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start Kafka in the background and wait until it serves")
    up.add_argument("--port", type=int, default=9092, help="first node's client port (9092)")
    up.add_argument("--nodes", type=int, default=1, help="KRaft nodes, each broker+controller")
    up.add_argument("--timeout", type=float, default=120)
    down = sub.add_parser("down", help="stop the Kafka started by 'up' (SIGTERM, then SIGKILL)")
    down.add_argument("--timeout", type=float, default=30)
    status = sub.add_parser("status", help="which nodes run and whether they serve clients")
    sub.add_parser("jars", help="fetch the broker's jars (once) and print their folder")
    for command in (up, down, status):
        command.add_argument("--data", default="var/kafka", help="data root (var/kafka)")
    args = parser.parse_args(argv)
    # The readiness polls expect refused connections; aiokafka would print each one.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        if args.command == "up":
            _cmd_up(args)
        elif args.command == "down":
            _cmd_down(args)
        elif args.command == "status":
            return _cmd_status(args)
        else:
            started = time.monotonic()
            libs = ensure_jars()
            print(f"{libs} ({time.monotonic() - started:.1f}s)")
    except KafkaToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
