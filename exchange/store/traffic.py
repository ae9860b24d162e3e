"""Traffic aggregates: counts and latency histograms per bucket of time, per sender, message
type, route and endpoint, kept up by the indexer and read by the console.

The table (``traffic`` in exchange/store/models.py) holds one row per
(``grain``, ``bucket``, sender, message type, route, endpoint):

- ``grain`` is the bucket's length in seconds: 1 (kept ``KEEP_SECONDS[1]``, 6 hours),
  60 (35 days) or 3600 (400 days, what the statistics group per day, week or month);
  ``bucket`` is the bucket's start, in Unix seconds (a multiple of ``grain``, UTC).
- the dimensions are "" where the events counted do not know them: ``accepted`` and
  ``rejected`` are counted on rows with route and endpoint "" (the front door has not
  routed yet); ``delivered``, ``failed`` (every failed try, retried or not) and the
  end-to-end latency on rows with all four; ``dead_lettered`` with the endpoint and route
  (both "" for the router's); ``replayed`` with the endpoint only.
- counts: ``TRAFFIC_COUNTS``; histograms: ``e2e`` (accepted → delivered, measured by the
  delivery stage from the envelope's creation) and ``ingress`` (the front door's own time,
  where the event says it), in the buckets of exchange/store/latency.py.

Writing: ``TrafficFold`` adds up one batch of events in memory; ``write`` then upserts one
row per (grain, bucket, dimensions) in the indexer's transaction of that batch, adding to
what the row held (``+ excluded``), on SQLite and PostgreSQL alike.  A batch indexed again
after a crash (delivery to the indexer is at least once) is counted again: the aggregates
are for watching and for periodic assessment, not for accounting to the message.

Reading: ``TrafficQueries(engine)``:

- ``totals(since, until, by=("endpoint",), where={"route": "..."})`` → ``Totals``: one
  ``Figures`` per group (counts, ``e2e`` and ``ingress`` histograms, ``latency()`` with
  p50/p95/p99 in ms), and the window actually covered (``since``/``until``/``grain``: the
  buckets are whole, so the window is widened to bucket bounds; divide by ``seconds`` for
  a rate);
- ``series(since, until, step_s, by=(), where=None)`` → ``list[Point]``: the same per time
  step (``step_s`` a multiple of a grain), only the steps that hold something, in time
  order (fill the gaps with zeros when drawing).

``by`` and ``where`` take names of ``TRAFFIC_DIMENSIONS``.  ``totals`` is precise to the
coarsest grain that gives the window about 30 buckets or more (a minute's to the second, a
day's to the minute) and reads the whole hours and minutes inside the window from the
coarser grains, so that a day costs about 24 + 120 rows per group, not 1,440; ``series``
reads the coarsest grain that divides the step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from exchange.records.events import (
    Accepted,
    DeadLettered,
    Delivered,
    Event,
    Failed,
    Rejected,
    Replayed,
)
from exchange.store.latency import BUCKETS, bucket_of, percentiles
from exchange.store.models import (
    E2E_COLUMNS,
    INGRESS_COLUMNS,
    TRAFFIC_COUNTS,
    TRAFFIC_DIMENSIONS,
    BacklogRow,
    traffic_table,
)

GRAINS = (1, 60, 3600)
KEEP_SECONDS = {1: 6 * 3600, 60: 35 * 86400, 3600: 400 * 86400}
# A window is read in buckets no coarser than a 30th of it: a minute's rate from seconds,
# an hour's from minutes, a month's from hours.
_BUCKETS_PER_WINDOW = 30
_SWEEP_BUCKETS = 600  # buckets of one grain deleted per transaction

VALUE_COLUMNS = (*TRAFFIC_COUNTS, *E2E_COLUMNS, *INGRESS_COLUMNS)
_COUNT_INDEX = {name: i for i, name in enumerate(TRAFFIC_COUNTS)}
_E2E_AT = len(TRAFFIC_COUNTS)
_INGRESS_AT = _E2E_AT + BUCKETS
_WIDTH = len(VALUE_COLUMNS)

Dimensions = tuple[str, str, str, str]  # sender, message type, route, endpoint


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


def _epoch(moment: datetime) -> int:
    return math.floor(moment.timestamp())


class TrafficFold:
    """One batch of events added up per second and dimensions, rolled up to every grain."""

    def __init__(self) -> None:
        self._seconds: dict[tuple[int, Dimensions], list[int]] = {}

    def add(self, events: Iterable[Event]) -> None:
        for event in events:
            if isinstance(event, Delivered):
                dims = (event.sender or "", event.message_type or "", event.route, event.endpoint)
                values = self._values(event.at, dims)
                values[_COUNT_INDEX["delivered"]] += 1
                if event.e2e_ms is not None:
                    values[_E2E_AT + bucket_of(event.e2e_ms)] += 1
            elif isinstance(event, Accepted):
                values = self._values(event.at, (event.sender, event.message_type, "", ""))
                values[_COUNT_INDEX["accepted"]] += 1
                if event.ingress_ms is not None:
                    values[_INGRESS_AT + bucket_of(event.ingress_ms)] += 1
            elif isinstance(event, Failed):
                dims = (event.sender or "", event.message_type or "", event.route, event.endpoint)
                self._values(event.at, dims)[_COUNT_INDEX["failed"]] += 1
            elif isinstance(event, DeadLettered):
                route = event.route or ""
                dims = (event.sender or "", event.message_type or "", route, event.endpoint or "")
                self._values(event.at, dims)[_COUNT_INDEX["dead_lettered"]] += 1
            elif isinstance(event, Rejected):
                values = self._values(event.at, (event.sender, event.message_type, "", ""))
                values[_COUNT_INDEX["rejected"]] += 1
            elif isinstance(event, Replayed):
                values = self._values(event.at, ("", "", "", event.endpoint or ""))
                values[_COUNT_INDEX["replayed"]] += 1

    def _values(self, at: datetime, dims: Dimensions) -> list[int]:
        key = (_epoch(at), dims)
        values = self._seconds.get(key)
        if values is None:
            values = self._seconds[key] = [0] * _WIDTH
        return values

    def rows(self) -> list[dict[str, Any]]:
        """One row per (grain, bucket, dimensions), in key order (the same lock order for
        every writer on PostgreSQL)."""
        rolled: dict[tuple[int, int, Dimensions], list[int]] = {}
        for (second, dims), values in self._seconds.items():
            for grain in GRAINS:
                key = (grain, second - second % grain, dims)
                total = rolled.get(key)
                if total is None:
                    rolled[key] = list(values)
                else:
                    for i, value in enumerate(values):
                        if value:
                            total[i] += value
        rows = []
        for (grain, bucket, dims), values in sorted(rolled.items()):
            row: dict[str, Any] = {"grain": grain, "bucket": bucket}
            row.update(zip(TRAFFIC_DIMENSIONS, dims, strict=True))
            row.update(zip(VALUE_COLUMNS, values, strict=True))
            rows.append(row)
        return rows


def upsert_statement(dialect: str) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE that adds a row's values to the stored ones."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(traffic_table)
    return stmt.on_conflict_do_update(
        index_elements=["grain", "bucket", *TRAFFIC_DIMENSIONS],
        set_={c: traffic_table.c[c] + stmt.excluded[c] for c in VALUE_COLUMNS},
    )


async def write(connection: AsyncConnection, rows: Sequence[dict[str, Any]], upsert: Any) -> None:
    """Add the rows of ``TrafficFold.rows`` to the table, in the caller's transaction."""
    if rows:
        await connection.execute(upsert, list(rows))


async def sweep(engine: AsyncEngine, now: datetime, stopping: Callable[[], bool]) -> int:
    """Delete the buckets each grain no longer keeps (traffic and backlog samples); the
    number of rows deleted.  A slice of ``_SWEEP_BUCKETS`` buckets per transaction, so that
    the first pass after a long stop does not hold the indexer up."""
    deleted = 0
    for table in (traffic_table, _table(BacklogRow)):
        grain_c, bucket_c = table.c.grain, table.c.bucket
        for grain in GRAINS:
            cut = _epoch(now) - KEEP_SECONDS[grain]
            async with engine.connect() as connection:
                oldest = await connection.scalar(
                    select(func.min(bucket_c)).where(grain_c == grain, bucket_c < cut)
                )
            while oldest is not None and oldest < cut and not stopping():
                upto = min(int(oldest) + grain * _SWEEP_BUCKETS, cut)
                async with engine.begin() as connection:
                    result = await connection.execute(
                        delete(table).where(grain_c == grain, bucket_c < upto)
                    )
                deleted += max(result.rowcount or 0, 0)
                oldest = upto
    return deleted


@dataclass(frozen=True, slots=True)
class Figures:
    """What one group counted over a window (or one step of a series)."""

    group: dict[str, str]  # the ``by`` dimensions' values
    counts: dict[str, int]
    e2e: tuple[int, ...]  # histogram (exchange/store/latency.py buckets)
    ingress: tuple[int, ...]

    def latency(self) -> dict[str, dict[str, float | None]]:
        """p50/p95/p99 in ms of each histogram (None where nothing was measured)."""
        return {"e2e": percentiles(self.e2e), "ingress": percentiles(self.ingress)}

    def as_dict(self) -> dict[str, Any]:
        return {**self.group, **self.counts, "latency_ms": self.latency()}

    @staticmethod
    def combine(group: dict[str, str], parts: Iterable[Figures]) -> Figures:
        """The sum of several groups' figures (e.g. every endpoint of a route)."""
        counts = dict.fromkeys(TRAFFIC_COUNTS, 0)
        e2e, ingress = [0] * BUCKETS, [0] * BUCKETS
        for part in parts:
            for name, value in part.counts.items():
                counts[name] += value
            for i in range(BUCKETS):
                e2e[i] += part.e2e[i]
                ingress[i] += part.ingress[i]
        return Figures(group, counts, tuple(e2e), tuple(ingress))


def empty(group: dict[str, str] | None = None) -> Figures:
    return Figures.combine(group or {}, ())


@dataclass(frozen=True, slots=True)
class Totals:
    """``totals``' answer: the groups and the window their buckets cover."""

    since: datetime
    until: datetime
    grain: int
    groups: list[Figures] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return max((self.until - self.since).total_seconds(), 1.0)

    def overall(self) -> Figures:
        return Figures.combine({}, self.groups)


@dataclass(frozen=True, slots=True)
class Point:
    """One step of a series: its start and each group's figures in it."""

    at: datetime
    groups: list[Figures]


def grain_for(since: datetime, until: datetime, step_s: int | None = None) -> int:
    """The coarsest grain fine enough for the window (about 30 buckets) or the step.

    A coarser grain is also kept longer (``KEEP_SECONDS``), so it is never a worse choice
    for how far back the window reaches.
    """
    if step_s is not None:
        return max(g for g in GRAINS if step_s % g == 0)
    span = (until - since).total_seconds()
    return max(g for g in GRAINS if g == GRAINS[0] or g <= span / _BUCKETS_PER_WINDOW)


class TrafficQueries:
    """Reads of the traffic table, for the overview, topology and statistics pages."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def totals(
        self,
        since: datetime,
        until: datetime,
        by: Sequence[str] = (),
        where: Mapping[str, str] | None = None,
        *,
        now: datetime | None = None,
    ) -> Totals:
        now = now or datetime.now(UTC)
        grain = grain_for(since, until)
        start, end = _floor(since, grain), _ceil(until, grain)
        query = _summed(by, where, _pieces(grain, start, end)).group_by(*_columns(by))
        async with self._engine.connect() as connection:
            result = await connection.execute(query)
            groups = [_figures(by, row) for row in result]
        # The last bucket may still be filling: it covers only the time until now.
        return Totals(_at(start), max(min(_at(end), now), _at(start)), grain, groups)

    async def series(
        self,
        since: datetime,
        until: datetime,
        step_s: int,
        by: Sequence[str] = (),
        where: Mapping[str, str] | None = None,
    ) -> list[Point]:
        if step_s < 1:
            raise ValueError(f"step_s is seconds, 1 or more, not {step_s}")
        grain = grain_for(since, until, step_s)
        start, end = _floor(since, step_s), _ceil(until, grain)
        bucket = traffic_table.c.bucket
        step = (bucket - bucket % step_s).label("step")
        query = (
            _summed(by, where, [(grain, start, end)], step)
            .group_by(step, *_columns(by))
            .order_by(step)
        )
        points: list[Point] = []
        async with self._engine.connect() as connection:
            result = await connection.execute(query)
            for row in result:
                at = _at(int(row[0]))
                if not points or points[-1].at != at:
                    points.append(Point(at, []))
                points[-1].groups.append(_figures(by, row[1:]))
        return points


def _columns(by: Sequence[str]) -> list[ColumnElement[Any]]:
    unknown = [name for name in by if name not in TRAFFIC_DIMENSIONS]
    if unknown:
        raise ValueError(f"cannot group traffic by {unknown}; use {list(TRAFFIC_DIMENSIONS)}")
    return [traffic_table.c[name] for name in by]


def _pieces(grain: int, start: int, end: int) -> list[tuple[int, int, int]]:
    """[start, end) (multiples of ``grain``) as (grain, start, end) ranges: the coarsest
    grains for the whole buckets inside it, ``grain`` at its edges.  A day read at minute
    precision is then about 24 hours and 120 minutes, not 1,440 minutes: every grain holds
    every event, so the sums agree."""
    coarser = [g for g in GRAINS if g > grain]
    if coarser:
        big = coarser[0]
        inner_start, inner_end = -(-start // big) * big, end // big * big
        if inner_end > inner_start:
            edges = [(grain, start, inner_start), (grain, inner_end, end)]
            return [*_pieces(big, inner_start, inner_end), *(e for e in edges if e[1] < e[2])]
    return [(grain, start, end)]


def _summed(
    by: Sequence[str],
    where: Mapping[str, str] | None,
    pieces: Sequence[tuple[int, int, int]],
    *first: ColumnElement[Any],
) -> Select[Any]:
    t = traffic_table.c
    ranges = [and_(t.grain == g, t.bucket >= a, t.bucket < b) for g, a, b in pieces]
    conditions = [or_(*ranges)]
    for name, value in (where or {}).items():
        conditions += [c == value for c in _columns((name,))]
    sums = [func.coalesce(func.sum(t[name]), 0) for name in VALUE_COLUMNS]
    return select(*first, *_columns(by), *sums).where(*conditions)


def _figures(by: Sequence[str], row: Sequence[Any]) -> Figures:
    width = len(by)
    values = [int(v) for v in row[width:]]
    return Figures(
        group={name: str(row[i]) for i, name in enumerate(by)},
        counts=dict(zip(TRAFFIC_COUNTS, values[:_E2E_AT], strict=True)),
        e2e=tuple(values[_E2E_AT:_INGRESS_AT]),
        ingress=tuple(values[_INGRESS_AT:]),
    )


def _floor(moment: datetime, grain: int) -> int:
    second = _epoch(moment)
    return second - second % grain


def _ceil(moment: datetime, grain: int) -> int:
    second = math.ceil(moment.timestamp())
    return -(-second // grain) * grain


def _at(second: int) -> datetime:
    return datetime.fromtimestamp(second, UTC)
