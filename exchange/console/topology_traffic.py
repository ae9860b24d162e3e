"""Each topology edge's recent traffic: its rate and its errors, from the traffic aggregates.

The aggregates (exchange/store/traffic.py) count ``accepted`` and ``rejected`` per (sender,
type); ``delivered`` and ``failed`` per (sender, type, route, endpoint); a delivery's
``dead_lettered`` per (sender, type, endpoint) with route "" (and the router's with endpoint
"" too).  A type sends each message to an endpoint through at most one route (the first that
names it), so (type, endpoint) tells which route a dead letter belongs to.

- sender → type: messages/s sent (accepted + rejected), errors: rejected;
- type → route, route → endpoint: deliveries/s (delivered), errors: failed tries + dead
  letters;
- nodes get the same sums (a type also the router's dead letters: no route took them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.console.topology import ENDPOINT, ROUTE, SENDER, TYPE, Topology
from exchange.store.traffic import Figures, TrafficQueries

DIMENSIONS = ("sender", "message_type", "route", "endpoint")
COUNTS = ("accepted", "rejected", "delivered", "failed", "dead_lettered")


def _zero() -> dict[str, int]:
    return dict.fromkeys(COUNTS, 0)


def _add(into: dict[str, int], counts: dict[str, int]) -> None:
    for name in COUNTS:
        into[name] += counts.get(name, 0)


async def annotate(topology: Topology, engine: AsyncEngine, window_s: int) -> dict[str, Any]:
    """The topology's JSON with ``traffic`` on every edge and node over the last window."""
    until = datetime.now(UTC)
    totals = await TrafficQueries(engine).totals(
        until - timedelta(seconds=window_s), until, by=DIMENSIONS
    )
    return lay_over(topology, totals.groups, totals.seconds, window_s)


def lay_over(
    topology: Topology, groups: Iterable[Figures], seconds: float, window_s: int
) -> dict[str, Any]:
    edges: dict[tuple[str, str], dict[str, int]] = defaultdict(_zero)
    nodes: dict[str, dict[str, int]] = defaultdict(_zero)
    route_of: dict[tuple[str, str], str] = {}  # (type, endpoint) -> the route that takes it
    routes_of_type: dict[str, list[str]] = defaultdict(list)
    for edge in topology.edges:
        if edge.source.column == ROUTE and edge.target.column == ENDPOINT:
            message_type = edge.source.detail.get("message_type")
            route_of.setdefault((message_type or "", edge.target.name), edge.source.name)
        if edge.source.column == TYPE and edge.target.column == ROUTE:
            routes_of_type[edge.source.name].append(edge.target.name)
    for figures in groups:
        sender, message_type, route, endpoint = (figures.group.get(d, "") for d in DIMENSIONS)
        counts = figures.counts
        sender_id, type_id = f"{SENDER}:{sender}", f"{TYPE}:{message_type}"
        if not route and not endpoint:
            # the front door's counts, and the router's dead letters
            _add(edges[(sender_id, type_id)], counts)
            _add(nodes[sender_id], counts)
            _add(nodes[type_id], counts)
            continue
        if not route:  # a delivery's dead letters: the route that sends this type there
            route = route_of.get((message_type, endpoint)) or route_of.get(("", endpoint), "")
        route_id, endpoint_id = f"{ROUTE}:{route}", f"{ENDPOINT}:{endpoint}"
        if route:
            _add(edges[(type_id, route_id)], counts)
            _add(edges[(route_id, endpoint_id)], counts)
            _add(nodes[route_id], counts)
        _add(nodes[endpoint_id], counts)
    body = topology.as_json()
    for edge in body["edges"]:
        counts = edges.get((edge["from"], edge["to"]), _zero())
        edge["traffic"] = _traffic(edge["kind"], counts, seconds)
    for node in body["nodes"]:
        counts = nodes.get(node["id"], _zero())
        node["traffic"] = _traffic(node["column"], counts, seconds)
    body["window_s"] = window_s
    return body


def _traffic(kind: str, counts: dict[str, int], seconds: float) -> dict[str, Any]:
    if kind in (f"{SENDER}-{TYPE}", SENDER):
        moved, errors = counts["accepted"] + counts["rejected"], counts["rejected"]
    elif kind == TYPE:
        moved = counts["accepted"] + counts["rejected"]
        errors = counts["rejected"] + counts["dead_lettered"]
    else:
        moved, errors = counts["delivered"], counts["failed"] + counts["dead_lettered"]
    return {"rate": round(moved / seconds, 3), "count": moved, "errors": errors, **counts}
