"""What the health page measures of the hub's storage: the backbone and the store.

Each probe answers a ``Check``: a colour (green, amber, red), the reason in one line (what is
wrong and what to do when it is not green) and the figures behind it.  Probes never raise: a
backbone or store that cannot be reached is itself the answer (red, with why).

- embedded backbone: its SQLite log's size (with ``-wal``/``-shm``) and the free space of the
  disk it is on;
- Kafka: the cluster's metadata through an admin client, each broker it lists reached over
  TCP, and the hub's topics: present, each partition with a leader and its replicas in sync;
- store: one ``SELECT 1`` within a time limit, and its size (SQLite files, or PostgreSQL's
  ``pg_database_size``).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.backbone import EmbeddedBackbone, KafkaBackbone
from exchange.backbone.base import Backbone

GREEN, AMBER, RED = "green", "amber", "red"
_RANK = {GREEN: 0, AMBER: 1, RED: 2}

# Free disk below these shares of the disk turns the backbone or store amber, then red:
# both stop accepting writes when the disk is full, and so does the hub.
AMBER_FREE_SHARE = 0.10
RED_FREE_SHARE = 0.02
PROBE_SECONDS = 3.0  # how long a probe may wait for the store or a broker
UNKNOWN_TOPIC = 3  # Kafka's UNKNOWN_TOPIC_OR_PARTITION


@dataclass
class Check:
    status: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, **self.details}


def worst(statuses: Sequence[str]) -> str:
    return max(statuses, key=lambda status: _RANK[status], default=GREEN)


def sqlite_files_size(path: Path) -> int:
    """Bytes of a SQLite database with its ``-wal`` and ``-shm`` files (those that exist)."""
    total = 0
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            total += candidate.stat().st_size
        except FileNotFoundError:
            continue
    return total


def disk_check(path: Path, what: str) -> tuple[str, str, dict[str, int]]:
    """The colour of the disk ``path`` lies on, a reason when not green, and its figures."""
    usage = shutil.disk_usage(path if path.is_dir() else path.parent)
    share = usage.free / usage.total if usage.total else 1.0
    figures = {"disk_free_bytes": usage.free, "disk_total_bytes": usage.total}
    free_mib = usage.free // (1024 * 1024)
    if share < RED_FREE_SHARE:
        return (
            RED,
            f"the disk of the {what} is almost full ({free_mib} MiB free); free space now",
            figures,
        )
    if share < AMBER_FREE_SHARE:
        return (
            AMBER,
            f"the disk of the {what} is getting full ({free_mib} MiB free); "
            "free space or lower the retention",
            figures,
        )
    return GREEN, "", figures


async def probe_backbone(backbone: Backbone, topics: Sequence[str]) -> Check:
    if isinstance(backbone, EmbeddedBackbone):
        return _probe_embedded(backbone)
    if isinstance(backbone, KafkaBackbone):
        return await _probe_kafka(backbone, topics)
    return Check(
        GREEN, f"{type(backbone).__name__}: no health probe for this backbone", {"kind": "other"}
    )


def _probe_embedded(backbone: EmbeddedBackbone) -> Check:
    path = backbone.path
    details: dict[str, Any] = {"kind": "embedded", "path": str(path)}
    if not path.exists():
        return Check(
            RED, f"the embedded log {path} is missing; restart the hub to create it", details
        )
    details["size_bytes"] = sqlite_files_size(path)
    status, reason, figures = disk_check(path, "embedded log")
    details.update(figures)
    return Check(status, reason or "the embedded log is open", details)


async def _probe_kafka(backbone: KafkaBackbone, topics: Sequence[str]) -> Check:
    config = backbone.config
    details: dict[str, Any] = {"kind": "kafka", "bootstrap": list(config.bootstrap)}
    admin = AIOKafkaAdminClient(
        bootstrap_servers=config.bootstrap,
        client_id=f"{config.client_id}-health",
        request_timeout_ms=int(PROBE_SECONDS * 1000),
    )
    try:
        async with asyncio.timeout(2 * PROBE_SECONDS):
            await admin.start()
            cluster = await admin.describe_cluster()
            described = await admin.describe_topics(None)
    except Exception as exc:  # any client failure is the answer: Kafka cannot be read
        return Check(
            RED,
            f"cannot read Kafka's metadata from {','.join(config.bootstrap)}: "
            f"{exc or type(exc).__name__}; start the brokers or fix EXCHANGE_BACKBONE",
            details,
        )
    finally:
        await admin.close()
    listed = list(cluster.get("brokers", []))
    # A broker that died drops out of the cluster's metadata: the addresses the hub was
    # given that the metadata does not name are tried too, and shown if they do not answer
    # (one that answers is a broker the metadata names under another address).
    known = {f"{b['host']}:{b['port']}" for b in listed}
    for address in config.bootstrap:
        host, _, port = address.rpartition(":")
        if address not in known and port.isdigit():
            listed.append({"node_id": None, "host": host, "port": int(port)})
    brokers = [
        row
        for row in await _reach_brokers(listed)
        if row["node_id"] is not None or not row["reachable"]
    ]
    details["brokers"] = brokers
    details["controller_id"] = cluster.get("controller_id")
    wanted = {backbone.physical(topic): topic for topic in topics}
    topic_rows = [topic_health(t) for t in described if t.get("topic") in wanted]
    present = {row["name"] for row in topic_rows}
    for physical in sorted(set(wanted) - present):
        topic_rows.append({"name": physical, "present": False, "partitions": 0, "problems": []})
    details["topics"] = sorted(topic_rows, key=lambda row: row["name"])
    unreachable = [b for b in brokers if not b["reachable"]]
    leaderless = [row for row in topic_rows if any("no leader" in p for p in row["problems"])]
    lagging = [row for row in topic_rows if row["problems"] and row not in leaderless]
    if not brokers or len(unreachable) == len(brokers):
        return Check(RED, "no Kafka broker can be reached; start the brokers", details)
    if leaderless:
        names = ", ".join(row["name"] for row in leaderless)
        return Check(
            RED, f"partitions without a leader on {names}: bring their brokers back", details
        )
    if unreachable:
        names = ", ".join(f"{b['host']}:{b['port']}" for b in unreachable)
        return Check(AMBER, f"broker(s) {names} cannot be reached; restart them", details)
    if lagging:
        names = ", ".join(row["name"] for row in lagging)
        return Check(
            AMBER,
            f"under-replicated partitions on {names}: check the brokers' disks and network",
            details,
        )
    return Check(GREEN, f"{len(brokers)} broker(s) reachable", details)


async def _reach_brokers(brokers: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    async def reach(broker: dict[str, Any]) -> dict[str, Any]:
        host, port = str(broker["host"]), int(broker["port"])
        row: dict[str, Any] = {"node_id": broker.get("node_id"), "host": host, "port": port}
        try:
            async with asyncio.timeout(PROBE_SECONDS):
                _, writer = await asyncio.open_connection(host, port)
            writer.close()
            await writer.wait_closed()
            row.update(reachable=True, error=None)
        except (OSError, TimeoutError) as exc:
            row.update(reachable=False, error=str(exc) or type(exc).__name__)
        return row

    return list(await asyncio.gather(*(reach(broker) for broker in brokers)))


def topic_health(described: dict[str, Any]) -> dict[str, Any]:
    name = str(described["topic"])
    if described.get("error_code") == UNKNOWN_TOPIC:
        return {"name": name, "present": False, "partitions": 0, "problems": []}
    problems: list[str] = []
    partitions = described.get("partitions", [])
    for partition in partitions:
        number = partition.get("partition")
        if partition.get("leader", -1) < 0:
            problems.append(f"partition {number} has no leader")
        elif len(partition.get("isr", [])) < len(partition.get("replicas", [])):
            problems.append(f"partition {number} has replicas out of sync")
    return {"name": name, "present": True, "partitions": len(partitions), "problems": problems}


async def probe_store(engine: AsyncEngine) -> Check:
    dialect = engine.dialect.name
    details: dict[str, Any] = {"dialect": dialect}
    try:
        async with asyncio.timeout(PROBE_SECONDS), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            if dialect == "postgresql":
                size = await connection.scalar(text("SELECT pg_database_size(current_database())"))
                details["size_bytes"] = int(size or 0)
    except Exception as exc:  # whatever the driver raises, the store cannot be read
        return Check(
            RED,
            f"the store cannot be reached: {exc or type(exc).__name__}; "
            "check EXCHANGE_DATABASE_URL and that the database runs",
            details,
        )
    database = engine.url.database
    if dialect == "sqlite" and database and database != ":memory:":
        path = Path(database)
        details["path"] = str(path)
        details["size_bytes"] = sqlite_files_size(path)
        status, reason, figures = disk_check(path, "store")
        details.update(figures)
        return Check(status, reason or "the store answers", details)
    return Check(GREEN, "the store answers", details)
