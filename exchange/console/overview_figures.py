"""The overview's figures: per route, per endpoint and for the whole hub, over the last
minute, hour and day, with each endpoint's backlog, breaker and oldest undelivered message.

Built from the traffic aggregates (exchange/store/traffic.py: three grouped sums, one per
window), the breaker states and the oldest undelivered deliveries the store keeps, and the
backlog the front door samples.  One build serves every reader for half a second (the live
stream's and the page's), so that ten open consoles cost what one does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from exchange.console.backlog_sampler import BacklogSampler
from exchange.hub import Hub
from exchange.store.backlog import Waiting
from exchange.store.endpoints import BreakerState, EndpointQueries
from exchange.store.traffic import Figures, Totals, TrafficQueries

WINDOWS = {"minute": 60, "hour": 3600, "day": 86400}
FRESH_SECONDS = 0.5  # a tick a second: each gets a fresh build


def window(figures: Figures, seconds: float, rate_of: str) -> dict[str, Any]:
    """One window's figures as the page reads them; ``rate`` is ``rate_of`` per second."""
    return {
        **figures.counts,
        "rate": round(figures.counts[rate_of] / seconds, 3),
        "latency_ms": figures.latency(),
    }


def _closed() -> dict[str, Any]:
    return {"state": "closed", "since": None, "failures": 0, "last_error": None}


class OverviewFigures:
    def __init__(self, hub: Hub, sampler: BacklogSampler) -> None:
        self._hub = hub
        self._sampler = sampler
        self._traffic = TrafficQueries(hub.store.engine)
        self._endpoints = EndpointQueries(hub.store.engine)
        self._built: tuple[float, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def current(self, max_age: float = FRESH_SECONDS) -> dict[str, Any]:
        """The overview, at most ``max_age`` seconds old."""
        async with self._lock:
            if self._built is not None and time.monotonic() - self._built[0] < max_age:
                return self._built[1]
            overview = await self.build()
            self._built = (time.monotonic(), overview)
            return overview

    async def build(self, now: datetime | None = None) -> dict[str, Any]:
        now = now or datetime.now(UTC)
        totals = {
            name: await self._traffic.totals(
                now - timedelta(seconds=seconds), now, by=("route", "endpoint"), now=now
            )
            for name, seconds in WINDOWS.items()
        }
        breakers = await self._endpoints.breakers()
        oldest = await self._endpoints.oldest_undelivered()
        backlog = await self._sampler.current()
        routing = self._hub.rules.routing
        endpoints = [
            self._endpoint(name, totals, breakers, oldest, backlog, now)
            for name in sorted(routing.endpoints)
        ]
        routes = [
            {
                "name": route.name,
                "description": route.description,
                "endpoints": [d.endpoint for d in route.destinations],
                **_windows(totals, "delivered", lambda g, name=route.name: g["route"] == name),
            }
            for route in routing.routes
        ]
        hub = _windows(totals, "accepted", lambda _: True)
        hub["backlog"] = sum(w.total for w in backlog.values())
        hub["open_breakers"] = sum(1 for e in endpoints if e["breaker"]["state"] != "closed")
        hub["oldest_undelivered_s"] = max(
            (e["oldest_undelivered_s"] for e in endpoints if e["oldest_undelivered_s"] is not None),
            default=None,
        )
        return {
            "at": now.isoformat(),
            "windows": WINDOWS,
            "hub": hub,
            "routes": routes,
            "endpoints": endpoints,
        }

    def _endpoint(
        self,
        name: str,
        totals: Mapping[str, Totals],
        breakers: Mapping[str, BreakerState],
        oldest: Mapping[str, datetime],
        backlog: Mapping[str, Waiting],
        now: datetime,
    ) -> dict[str, Any]:
        endpoint = self._hub.rules.routing.endpoints[name]
        waiting = backlog.get(name)
        breaker = breakers.get(name)
        since = oldest.get(name)
        return {
            "name": name,
            "title": endpoint.title,
            "kind": endpoint.kind,
            "routes": [
                r.name
                for r in self._hub.rules.routing.routes
                if any(d.endpoint == name for d in r.destinations)
            ],
            **_windows(totals, "delivered", lambda g: g["endpoint"] == name),
            "backlog": None
            if waiting is None
            else {"deliver": waiting.deliver, "retry": waiting.retry, "total": waiting.total},
            "breaker": _closed() if breaker is None else breaker.as_dict(),
            "oldest_undelivered_s": None
            if since is None
            else round(max((now - since).total_seconds(), 0.0), 1),
        }


def _windows(totals: Mapping[str, Totals], rate_of: str, chosen: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, total in totals.items():
        figures = Figures.combine({}, (g for g in total.groups if chosen(g.group)))
        result[name] = window(figures, total.seconds, rate_of)
    return result
