"""The console's topology, health and statistics: their JSON API under /console/api/.

- ``GET /console/api/topology?window=60``: senders → types → routes → endpoints from the
  loaded rules, each edge with its adapter chain and its traffic over the last ``window``
  seconds (``topology``, ``topology_traffic``);
- ``GET /console/api/health``: backbone, store, each stage (alive, lag) and the loaded set
  (``health``);
- ``GET /console/api/statistics?by=sender|endpoint&period=day|week|month&since=&until=&tz=``
  (``&format=csv&lang=en|zh`` for the CSV download) (``statistics``).

Every endpoint needs a console session (operator or viewer): they only read.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from exchange.console import statistics, topology, topology_traffic
from exchange.console.health import HealthReader
from exchange.console.session import ConsoleUser, signed_in
from exchange.hub import Hub
from exchange.ingress.problems import problem
from exchange.processes import ServingLayout
from exchange.ruleset import RuleSet

MAX_WINDOW_S = 86400


def router(hub: Hub) -> APIRouter:
    api = APIRouter(prefix="/console/api", tags=["console"], include_in_schema=False)
    health = HealthReader(hub)
    graphs = _Graphs()

    @api.get("/topology")
    async def get_topology(
        window: int = Query(60, description="seconds of traffic the rates are taken over"),
        _: ConsoleUser = Depends(signed_in),
    ) -> Response:
        if not 1 <= window <= MAX_WINDOW_S:
            return problem(
                400, "Bad parameter", f"window={window}: send 1 to {MAX_WINDOW_S} seconds"
            )
        graph = graphs.of(hub.rules)
        return JSONResponse(await topology_traffic.annotate(graph, hub.store.engine, window))

    @api.get("/health")
    async def get_health(request: Request, _: ConsoleUser = Depends(signed_in)) -> Response:
        layout: ServingLayout | None = getattr(request.app.state, "serving_layout", None)
        return JSONResponse(await health.read(layout))

    @api.get("/statistics")
    async def get_statistics(
        by: str = "sender",
        period: str = "day",
        since: str | None = None,
        until: str | None = None,
        tz: str = "UTC",
        format: str = "json",
        lang: str = "en",
        _: ConsoleUser = Depends(signed_in),
    ) -> Response:
        if format not in ("json", "csv"):
            return problem(400, "Bad parameter", f"format={format!r}: choose json or csv")
        try:
            asked = statistics.Request.parse(by, period, since, until, tz, statistics.today_in(tz))
        except statistics.BadParameter as exc:
            return problem(400, "Bad parameter", str(exc))
        answer = await statistics.compute(hub.store.engine, hub.rules, asked)
        if format == "json":
            return JSONResponse(answer)
        return Response(
            statistics.to_csv(answer, lang).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{statistics.csv_filename(answer)}"'
            },
        )

    return api


class _Graphs:
    """The topology of the rules in use, built once per rule set."""

    def __init__(self) -> None:
        self._built: tuple[RuleSet, topology.Topology] | None = None

    def of(self, rules: RuleSet) -> topology.Topology:
        if self._built is None or self._built[0] is not rules:
            self._built = (rules, topology.build(rules))
        return self._built[1]


__all__ = ["router"]
