"""Backlog samples: records waiting on each endpoint's deliver and retry topics, over time.

The backbone says how many records wait now (``Backbone.backlog``); nothing remembers how
many waited an hour ago.  The front door samples it once a second
(exchange/console/backlog_sampler.py) and keeps here, per endpoint, the second's sample and
the largest of its minute and of its hour (grains and retention as the traffic table's,
exchange/store/traffic.py), so that a chart of a month reads hours, not seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.store.models import BacklogRow

GRAINS = (1, 60, 3600)  # as exchange/store/traffic.py


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


_BACKLOG = _table(BacklogRow)


@dataclass(frozen=True, slots=True)
class Waiting:
    """Records waiting for one endpoint."""

    deliver: int
    retry: int

    @property
    def total(self) -> int:
        return self.deliver + self.retry


class BacklogSamples:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        module: Any = postgresql if engine.dialect.name == "postgresql" else sqlite
        stmt = module.insert(_BACKLOG)
        # A second's row is its sample; a minute's and an hour's keep the largest.
        self._upsert = stmt.on_conflict_do_update(
            index_elements=["grain", "bucket", "endpoint"],
            set_={
                c: func.max(_BACKLOG.c[c], stmt.excluded[c])
                if engine.dialect.name == "sqlite"
                else func.greatest(_BACKLOG.c[c], stmt.excluded[c])
                for c in ("deliver", "retry")
            },
        )

    async def record(self, at: datetime, waiting: Mapping[str, Waiting]) -> None:
        second = int(at.timestamp())
        rows = [
            {
                "grain": grain,
                "bucket": second - second % grain,
                "endpoint": endpoint,
                "deliver": sample.deliver,
                "retry": sample.retry,
            }
            for endpoint, sample in sorted(waiting.items())
            for grain in GRAINS
        ]
        if rows:
            async with self._engine.begin() as connection:
                await connection.execute(self._upsert, rows)

    async def series(
        self, since: datetime, until: datetime, step_s: int
    ) -> dict[str, dict[int, Waiting]]:
        """Per endpoint, per step start (Unix seconds): the largest backlog in the step."""
        grain = max(g for g in GRAINS if step_s % g == 0)
        b = _BACKLOG.c
        step = (b.bucket - b.bucket % step_s).label("step")
        start = int(since.timestamp())
        query = (
            select(step, b.endpoint, func.max(b.deliver), func.max(b.retry))
            .where(
                b.grain == grain, b.bucket >= start - start % step_s, b.bucket < until.timestamp()
            )
            .group_by(step, b.endpoint)
        )
        found: dict[str, dict[int, Waiting]] = {}
        async with self._engine.connect() as connection:
            for at, endpoint, deliver, retry in await connection.execute(query):
                found.setdefault(endpoint, {})[int(at)] = Waiting(int(deliver), int(retry))
        return found


def utc_second(moment: datetime | None = None) -> datetime:
    now = moment or datetime.now(UTC)
    return now.replace(microsecond=0)
