"""The console's overview: live figures for every route and endpoint, and their charts.

- ``GET /console/api/overview``: per route, per endpoint and for the hub, over the last
  minute, hour and day: counts, rates, end-to-end latency p50/p95/p99; per endpoint its
  backlog, breaker (state, since, last error) and oldest undelivered message's age
  (exchange/console/overview_figures.py).
- ``GET /console/api/series?range=15m|1h|6h|24h|7d|30d``: throughput, latency and backlog
  over the range, for the hub and per endpoint (exchange/console/overview_series.py).
- ``GET /console/api/live``: server-sent events, one ``tick`` a second: the latest seconds'
  figures, the backlog and the overview.  The stream holds no database connection between
  ticks, and ends when the server stops (it is marked so that the front door closes it
  at once rather than waiting for it: exchange/ingress/http_limits.py).

The backlog comes from the front door's sampler (exchange/console/backlog_sampler.py),
which ``exchange serve`` runs beside the app (``sampler_for``).
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse

from exchange.console.backlog_sampler import BacklogSampler
from exchange.console.overview_figures import OverviewFigures
from exchange.console.overview_series import RANGES, latest_seconds, series
from exchange.console.session import ConsoleUser, signed_in
from exchange.hub import Hub
from exchange.ingress.http_limits import ENDS_AT_SHUTDOWN
from exchange.ingress.problems import problem

TICK_SECONDS = 1.0

_samplers: weakref.WeakKeyDictionary[Hub, BacklogSampler] = weakref.WeakKeyDictionary()


def sampler_for(hub: Hub) -> BacklogSampler:
    """The hub's one backlog sampler (its ``run`` is started by ``exchange serve``)."""
    sampler = _samplers.get(hub)
    if sampler is None:
        sampler = _samplers[hub] = BacklogSampler(hub)
    return sampler


class _Live:
    """The tick every open stream sends, built once a second whoever asks."""

    def __init__(self, hub: Hub, figures: OverviewFigures, sampler: BacklogSampler) -> None:
        self._hub = hub
        self._figures = figures
        self._sampler = sampler
        self._built: tuple[int, str] | None = None  # (the wall-clock second, its tick)
        self._lock = asyncio.Lock()

    async def tick(self) -> tuple[int, str]:
        """This second's tick (and the second): built by the first stream to ask, sent by
        every one."""
        async with self._lock:
            second = int(time.time())
            if self._built is not None and self._built[0] == second:
                return self._built
            overview = await self._figures.current(max_age=0.0)
            body = {
                "at": overview["at"],
                "seconds": await latest_seconds(self._hub.store.engine),
                "backlog": {
                    name: waiting.total for name, waiting in (await self._sampler.current()).items()
                },
                "overview": overview,
            }
            text = f"event: tick\ndata: {json.dumps(body, separators=(',', ':'))}\n\n"
            self._built = (second, text)
            return self._built


def router(hub: Hub) -> APIRouter:
    # The console's API is for its own pages, not part of the published REST contract.
    api = APIRouter(prefix="/console/api", tags=["console"], include_in_schema=False)
    sampler = sampler_for(hub)
    figures = OverviewFigures(hub, sampler)
    live = _Live(hub, figures, sampler)

    @api.get("/overview", summary="Live figures of every route and endpoint")
    async def overview(user: ConsoleUser = Depends(signed_in)) -> JSONResponse:
        return JSONResponse(await figures.current())

    @api.get("/series", summary="Throughput, latency and backlog over a range")
    async def chart_series(
        request: Request, user: ConsoleUser = Depends(signed_in)
    ) -> JSONResponse:
        name = request.query_params.get("range", "1h")
        if name not in RANGES:
            return problem(
                400,
                "Bad parameter",
                f"range {name!r} is not one of {', '.join(RANGES)}; pick one of those",
            )
        endpoints = sorted(hub.rules.routing.endpoints)
        return JSONResponse(await series(hub.store.engine, name, endpoints))

    @api.get("/live", summary="Server-sent events: the overview, once a second")
    async def live_events(request: Request, user: ConsoleUser = Depends(signed_in)) -> Any:
        # The front door closes this stream at once when the server stops.
        request.scope[ENDS_AT_SHUTDOWN] = True

        async def events() -> AsyncIterator[str]:
            yield "retry: 1000\n\n"  # the browser reconnects after a second if cut off
            sent = 0
            while True:
                second, text = await live.tick()
                if second != sent:  # one tick a second, even if the clock woke us early
                    yield text
                    sent = second
                await asyncio.sleep(max(second + TICK_SECONDS - time.time(), 0.0) + 0.01)

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return api
