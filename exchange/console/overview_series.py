"""The overview's time series: throughput, end-to-end latency and backlog over a range, for
the hub and per endpoint (the sparklines), as dense arrays a chart draws as they are.

Each range has its step: seconds for the last 15 minutes, a few seconds for the hour, then
minutes and hours (``RANGES``), so that a chart holds a few hundred points whatever the
range.  Steps without traffic are zeros (latency: null), not missing, so that every array
lines up with ``t``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.store.backlog import BacklogSamples
from exchange.store.traffic import Figures, Point, TrafficQueries

# range name: (span in seconds, step in seconds)
RANGES: dict[str, tuple[int, int]] = {
    "15m": (900, 1),
    "1h": (3600, 5),
    "6h": (6 * 3600, 60),
    "24h": (86400, 300),
    "7d": (7 * 86400, 3600),
    "30d": (30 * 86400, 4 * 3600),
}
COUNTS = ("accepted", "delivered", "failed", "dead_lettered")


def _steps(since: int, until: int, step: int) -> list[int]:
    first = since - since % step
    return list(range(first, until, step))


def _latency(figures: Figures | None) -> dict[str, float | None]:
    if figures is None:
        return {"p50": None, "p95": None, "p99": None}
    return figures.latency()["e2e"]


async def series(
    engine: AsyncEngine,
    range_name: str,
    endpoints: Sequence[str],
    now: datetime | None = None,
) -> dict[str, Any]:
    """The charts' data for one of ``RANGES``."""
    span, step = RANGES[range_name]
    now = now or datetime.now(UTC)
    since = now - timedelta(seconds=span)
    points = await TrafficQueries(engine).series(since, now, step, by=("endpoint",))
    backlog = await BacklogSamples(engine).series(since, now, step)
    t = _steps(math.floor(since.timestamp()), math.floor(now.timestamp()) + 1, step)
    at_step = {int(p.at.timestamp()): p for p in points}
    hub = {name: [0] * len(t) for name in COUNTS}
    latency: dict[str, list[float | None]] = {"p50": [], "p95": [], "p99": []}
    per_endpoint = {
        name: {"delivered": [0] * len(t), "failed": [0] * len(t), "backlog": [0] * len(t)}
        for name in endpoints
    }
    backlog_total = [0] * len(t)
    for i, second in enumerate(t):
        point: Point | None = at_step.get(second)
        groups = point.groups if point is not None else []
        overall = Figures.combine({}, groups) if groups else None
        for name in COUNTS:
            hub[name][i] = overall.counts[name] if overall is not None else 0
        for name, value in _latency(overall).items():
            latency[name].append(value)
        for figures in groups:
            lines = per_endpoint.get(figures.group["endpoint"])
            if lines is not None:
                lines["delivered"][i] = figures.counts["delivered"]
                lines["failed"][i] = figures.counts["failed"]
        for name, samples in backlog.items():
            waiting = samples.get(second)
            if waiting is None:
                continue
            backlog_total[i] += waiting.total
            lines = per_endpoint.get(name)
            if lines is not None:
                lines["backlog"][i] = waiting.total
    return {
        "range": range_name,
        "step_s": step,
        "since": since.isoformat(),
        "until": now.isoformat(),
        "t": t,
        **hub,
        "latency_ms": latency,
        "backlog": backlog_total,
        "endpoints": per_endpoint,
    }


async def latest_seconds(engine: AsyncEngine, seconds: int = 5) -> dict[str, Any]:
    """The last few seconds, per second, for the live stream: the indexer may still be adding
    to the latest ones, so each tick sends them again and the page overwrites its points."""
    now = datetime.now(UTC)
    since = now - timedelta(seconds=seconds)
    points = await TrafficQueries(engine).series(since, now, 1, by=("endpoint",))
    at_step = {int(p.at.timestamp()): p for p in points}
    t = _steps(math.floor(now.timestamp()) - seconds, math.floor(now.timestamp()) + 1, 1)
    figures = [Figures.combine({}, at_step[s].groups) if s in at_step else None for s in t]
    endpoints: dict[str, dict[str, list[int]]] = {}
    for i, second in enumerate(t):
        point = at_step.get(second)
        for group in point.groups if point is not None else []:
            name = group.group["endpoint"]
            if not name:
                continue
            lines = endpoints.setdefault(name, {"delivered": [0] * len(t), "failed": [0] * len(t)})
            lines["delivered"][i] = group.counts["delivered"]
            lines["failed"][i] = group.counts["failed"]
    return {
        "t": t,
        **{name: [f.counts[name] if f else 0 for f in figures] for name in COUNTS},
        "latency_ms": {
            name: [_latency(f)[name] for f in figures] for name in ("p50", "p95", "p99")
        },
        "endpoints": endpoints,
    }
