"""Where each endpoint stands: its circuit breaker and its oldest undelivered message.

The breaker lives in the delivery process; its changes come as ``BreakerChanged`` events
and the indexer keeps the latest per endpoint in ``endpoint_state`` (in the transaction of
the batch that held it).  The oldest undelivered message is read from the deliveries that
are not final (pending or waiting for a retry), which the status index finds without
reading the delivered ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.records.events import BreakerChanged
from exchange.records.status import DeliveryStatus
from exchange.store.models import DeliveryRow, EndpointStateRow, MessageRow


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


_STATE = _table(EndpointStateRow)
_DELIVERIES = _table(DeliveryRow)
_MESSAGES = _table(MessageRow)
UNDELIVERED = (DeliveryStatus.PENDING.value, DeliveryStatus.RETRYING.value)


@dataclass(frozen=True, slots=True)
class BreakerState:
    endpoint: str
    state: str  # closed, open, half-open
    since: datetime
    failures: int
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "since": self.since.isoformat(),
            "failures": self.failures,
            "last_error": self.last_error,
        }


def state_rows(changes: Mapping[str, BreakerChanged]) -> list[dict[str, Any]]:
    return [
        {
            "endpoint": endpoint,
            "breaker": change.state,
            "since": change.at,
            "failures": change.failures,
            "last_error": (change.last_error or "")[:4000] or None,
        }
        for endpoint, change in sorted(changes.items())
    ]


def upsert_statement(dialect: str) -> Any:
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(_STATE)
    return stmt.on_conflict_do_update(
        index_elements=["endpoint"],
        set_={c: stmt.excluded[c] for c in ("breaker", "since", "failures", "last_error")},
    )


class EndpointQueries:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def breakers(self) -> dict[str, BreakerState]:
        """Each endpoint's breaker as last reported (an endpoint never reported: absent)."""
        async with self._engine.connect() as connection:
            result = await connection.execute(select(_STATE))
            return {
                row.endpoint: BreakerState(
                    row.endpoint, row.breaker, row.since, row.failures, row.last_error
                )
                for row in result
            }

    async def oldest_undelivered(self) -> dict[str, datetime]:
        """Per endpoint, when the oldest message not yet delivered there was accepted."""
        d, m = _DELIVERIES.c, _MESSAGES.c
        query = (
            select(d.endpoint, func.min(m.received_at))
            .select_from(_DELIVERIES.join(_MESSAGES, m.id == d.message))
            .where(d.status.in_(UNDELIVERED))
            .group_by(d.endpoint)
        )
        async with self._engine.connect() as connection:
            result = await connection.execute(query)
            return {endpoint: _aware(at) for endpoint, at in result if at is not None}


def _aware(value: Any) -> datetime:
    """min() keeps the column's type; a driver that hands back text or a naive time is
    read as the column would be (UTC)."""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(at, datetime):
        raise TypeError(f"a time of the store is a datetime, not {at!r}")
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
