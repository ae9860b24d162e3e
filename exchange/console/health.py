"""``GET /console/api/health``: is every part of the hub up, and does each stage keep up?

The answer has four parts, each green, amber or red with the reason:

- ``backbone`` and ``store``: reachable, and their size and free disk (``health_probes``);
- ``stages``: router, delivery (per endpoint) and indexer: where each runs (a task of the
  serving process, or a worker process it supervises: pid, restarts), whether it is alive,
  and its lag: the records its consumer group has not yet committed on its topics, read
  from the backbone, so it holds whichever process or machine the stage runs in;
- ``rules``: the schemas, adapters and routes this process loaded, with versions and a
  digest of the whole set (two processes with the same digest route alike).

A reading costs a few backbone and store queries (and, on Kafka, an admin client's
metadata request); it is kept for ``CACHE_SECONDS`` so any number of open pages cost the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from exchange.backbone.topics import DEAD_LETTERS, EVENTS, INBOUND, delivery_topic, retry_topic
from exchange.console.health_probes import (
    AMBER,
    GREEN,
    RED,
    Check,
    probe_backbone,
    probe_store,
    worst,
)
from exchange.processes import ServingLayout, WorkerProcess
from exchange.ruleset import RuleSet

if TYPE_CHECKING:
    from exchange.hub import Hub

CACHE_SECONDS = 2.0
# Records waiting before a stage is shown amber: more than a few seconds of full-load work
# (the hub passes ~1,000 messages a second), so a short burst stays green.
LAG_AMBER = 5_000


@dataclass(frozen=True)
class Stage:
    name: str
    # consumer group -> its topics (delivery: one group per endpoint)
    groups: dict[str, list[str]]


def stages(rules: RuleSet) -> list[Stage]:
    endpoints = sorted(rules.routing.endpoints)
    return [
        Stage("router", {"router": [INBOUND]}),
        Stage(
            "delivery",
            {f"delivery.{e}": [delivery_topic(e), retry_topic(e)] for e in endpoints},
        ),
        Stage("indexer", {"store-indexer": [EVENTS, DEAD_LETTERS]}),
    ]


def hub_topics(rules: RuleSet) -> list[str]:
    return [
        topic for stage in stages(rules) for topics in stage.groups.values() for topic in topics
    ]


class HealthReader:
    """Reads the hub's health; at most one reading per ``CACHE_SECONDS``."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._lock = asyncio.Lock()
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._summary: tuple[RuleSet, dict[str, Any]] | None = None

    async def read(self, layout: ServingLayout | None) -> dict[str, Any]:
        async with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < CACHE_SECONDS:
                return self._cached[1]
            answer = await self._read(layout)
            self._cached = (time.monotonic(), answer)
            return answer

    async def _read(self, layout: ServingLayout | None) -> dict[str, Any]:
        hub = self._hub
        rules = hub.rules
        backbone, store, stage_rows = await asyncio.gather(
            probe_backbone(hub.backbone, hub_topics(rules)),
            self._store(),
            asyncio.gather(*(self._stage(stage, layout) for stage in stages(rules))),
        )
        parts = [backbone.status, store.status, *(row["status"] for row in stage_rows)]
        status = worst(parts)
        troubled = [
            name
            for name, part_status in [
                ("backbone", backbone.status),
                ("store", store.status),
                *((f"stage {row['name']}", row["status"]) for row in stage_rows),
            ]
            if part_status != GREEN
        ]
        return {
            "status": status,
            "reason": "every part is up and keeping up"
            if status == GREEN
            else "look at: " + ", ".join(troubled),
            "checked_at": datetime.now(UTC).isoformat(),
            "backbone": backbone.as_json(),
            "store": store.as_json(),
            "stages": list(stage_rows),
            "rules": self._rules_summary(rules),
        }

    async def _store(self) -> Check:
        check = await probe_store(self._hub.store.engine)
        if check.status == RED:
            return check
        # Records the indexer could not write (/healthz counts them too): the hub works, but
        # the messages behind them may show a stale status until someone looks.
        try:
            set_aside = (await self._hub.store.health.read()).index_failures
        except Exception as exc:  # the store went away since the probe: the same answer
            return Check(RED, f"the store cannot be read: {exc}; check that the database runs")
        check.details["index_failures"] = set_aside
        if set_aside and check.status == GREEN:
            check.status = AMBER
            check.reason = (
                f"{set_aside} record(s) the indexer could not write; read the hub's log and "
                "the store's index_failures table"
            )
        return check

    def _rules_summary(self, rules: RuleSet) -> dict[str, Any]:
        # Once per rule set: it reads every schema's XSD for the digest.
        if self._summary is None or self._summary[0] is not rules:
            self._summary = (rules, rules_summary(rules))
        return self._summary[1]

    async def _stage(self, stage: Stage, layout: ServingLayout | None) -> dict[str, Any]:
        where = _where(stage.name, layout)
        lag: dict[str, dict[str, int]] = {}
        lag_error: str | None = None
        for group, topics in stage.groups.items():
            try:
                lag[group] = await self._hub.backbone.backlog(group, topics)
            except Exception as exc:  # the backbone's failure is already its own red part
                lag_error = f"cannot read the lag: {exc or type(exc).__name__}"
                break
        total = sum(sum(topics.values()) for topics in lag.values())
        alive = where["alive"]
        if alive is False:
            check = Check(
                RED,
                f"the {stage.name} process is not running; the hub starts it again within "
                "seconds: read its log if it stays down",
            )
        elif lag_error is not None:
            check = Check(RED, lag_error)
        elif total >= LAG_AMBER:
            check = Check(
                AMBER,
                f"{total} records waiting for the {stage.name}: it is behind; "
                "see the overview for its rate",
            )
        elif alive is None:
            check = Check(
                AMBER,
                f"the {stage.name} runs outside this process; "
                f"only its lag ({total}) can be seen here",
            )
        else:
            check = Check(GREEN, f"alive, {total} records waiting")
        return {"name": stage.name, **check.as_json(), **where, "lag": lag, "lag_total": total}


def _where(stage: str, layout: ServingLayout | None) -> dict[str, Any]:
    if layout is None:
        return {"runs_in": "unknown", "alive": None, "pid": None, "restarts": 0}
    if stage in layout.local:
        # A task of this process's hub, kept running by its restart loop while the hub serves.
        return {"runs_in": "serving process", "alive": True, "pid": os.getpid(), "restarts": 0}
    worker = _worker_of(stage, layout.workers)
    if worker is None:
        return {"runs_in": "unknown", "alive": None, "pid": None, "restarts": 0}
    return {
        "runs_in": "worker process",
        "worker": worker.name,
        "alive": worker.alive,
        "pid": worker.pid,
        "restarts": worker.restarts,
        "started_at": None
        if worker.started_at is None
        else datetime.fromtimestamp(worker.started_at, UTC).isoformat(),
    }


def _worker_of(stage: str, workers: Sequence[WorkerProcess]) -> WorkerProcess | None:
    return next((worker for worker in workers if stage in worker.stages), None)


# -- the loaded set ----------------------------------------------------------------------------


def rules_summary(rules: RuleSet) -> dict[str, Any]:
    """Schemas, adapters and routes with versions, and a digest of the whole set."""
    schemas = [
        {"name": s.name, "version": s.version, "namespace": s.namespace, "title": s.title}
        for s in sorted(rules.schemas, key=lambda s: (s.name, s.version))
    ]
    adapters = [
        {
            "name": a.spec.name,
            "version": a.spec.version,
            "kind": a.spec.kind,
            "source": a.spec.source,
            "target": a.spec.target,
        }
        for a in rules.adapters
    ]
    routing = rules.routing
    digest = hashlib.sha256()
    for schema in sorted(rules.schemas, key=lambda s: (s.name, s.version)):
        digest.update(f"schema {schema.name} {schema.version}\n".encode())
        digest.update(schema.xsd_path.read_bytes() if schema.xsd_path.exists() else b"")
    digest.update(json.dumps(adapters, sort_keys=True).encode())
    for endpoint in routing.endpoints.values():
        digest.update(endpoint.model_dump_json().encode())
    for route in routing.routes:
        digest.update(route.model_dump_json().encode())
    for policy in routing.senders.values():
        digest.update(policy.model_dump_json().encode())
    return {
        "status": GREEN,
        "reason": "loaded",
        "digest": digest.hexdigest()[:16],
        "version": rules.version,  # the files' version, as /healthz and traces say it
        "schemas": schemas,
        "adapters": adapters,
        "routes": len(routing.routes),
        "endpoints": len(routing.endpoints),
        "senders": len(routing.senders),
    }


__all__ = ["AMBER", "GREEN", "RED", "HealthReader", "rules_summary", "stages"]
