"""Applying pipeline events to the store, in batches.

One batch of events is folded in memory (exchange/store/fold.py) into one final row per
message and per delivery, then written in a handful of bulk statements on one long-lived
connection: insert steps, upsert deliveries, insert new messages with their final status,
and bring the messages the store already held up to date.  The index so keeps up with
thousands of messages a second on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, case, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from exchange.records.events import Event
from exchange.records.status import DeliveryStatus, MessageStatus
from exchange.store import endpoints, traffic
from exchange.store.fold import Batch, fold, message_status
from exchange.store.models import (
    DeadLetterRow,
    DeliveryRow,
    IndexFailureRow,
    MessageRow,
    StepRow,
)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    message: str
    stage: str
    endpoint: str | None
    reason: str
    topic: str
    headers: dict[str, str]
    payload: bytes
    created_at: datetime


@dataclass(frozen=True, slots=True)
class IndexFailure:
    """A record that could not be indexed, and why."""

    topic: str
    partition: int
    offset: int
    message: str | None
    error: str
    value: bytes


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


_MESSAGES = _table(MessageRow)
_DELIVERIES = _table(DeliveryRow)
_DELIVERY_COLUMNS = ("status", "attempts", "last_error", "http_status", "updated_at")
# A dead letter says nothing about attempts: the stored row keeps its attempts.
_STATUS_COLUMNS = ("status", "last_error", "updated_at")


def _status_from_deliveries() -> dict[str, ColumnElement[Any]]:
    """``message_status`` and its time and error, in SQL, from the deliveries the store holds.

    For messages whose earlier deliveries are not in the batch: one statement does them
    all, without reading their deliveries back.  The error is the one of the last endpoint
    (by name) not delivered, as in ``fold``.
    """
    d = _DELIVERIES
    mine = d.c.message == _MESSAGES.c.id

    def count(status: DeliveryStatus) -> ColumnElement[Any]:
        return func.sum(case((d.c.status == status, 1), else_=0))

    # One aggregate over the message's deliveries, found by their primary key: a condition
    # on the status per subquery would send SQLite to the status index (every delivered row).
    # The results as plain strings: a parameter of a str subclass is left untyped in SQL.
    status = case(
        (count(DeliveryStatus.DEAD_LETTERED) > 0, MessageStatus.DEAD_LETTERED.value),
        (count(DeliveryStatus.RETRYING) > 0, MessageStatus.FAILED.value),
        (count(DeliveryStatus.DELIVERED) == func.count(), MessageStatus.DELIVERED.value),
        (
            count(DeliveryStatus.DELIVERED) + count(DeliveryStatus.DISCARDED) == func.count(),
            MessageStatus.DISCARDED.value,
        ),
        (
            count(DeliveryStatus.DELIVERED) + count(DeliveryStatus.DISCARDED) > 0,
            MessageStatus.DELIVERING.value,
        ),
        else_=MessageStatus.ROUTED.value,
    )
    return {
        "status": select(status).where(mine).scalar_subquery(),
        "updated_at": select(func.max(d.c.updated_at)).where(mine).scalar_subquery(),
        "last_error": select(d.c.last_error)
        .where(
            mine,
            d.c.status != DeliveryStatus.DELIVERED,
            d.c.last_error.is_not(None),
            d.c.last_error != "",
        )
        .order_by(d.c.endpoint.desc())
        .limit(1)
        .scalar_subquery(),
    }


_RECOMPUTE = (
    update(_MESSAGES).where(_MESSAGES.c.id == bindparam("b_id")).values(_status_from_deliveries())
)


class Indexer:
    """The store's only writer of the index, on a connection it keeps between batches."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        module: Any = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._module = module
        self._connection: AsyncConnection | None = None
        self._statements: dict[str, Any] = {}

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()

    async def _connect(self) -> AsyncConnection:
        # One connection for the life of the writer: a pool checkout per batch made the
        # pool open and close connections (a thread each on SQLite) under load.
        if self._connection is None or self._connection.invalidated:
            await self.close()
            self._connection = await self._engine.connect()
        return self._connection

    async def _run(self, write: Any) -> None:
        connection = await self._connect()
        try:
            async with connection.begin():
                await write(connection)
        except BaseException:
            # The connection may be what failed: start the next try on a new one.
            with contextlib.suppress(Exception):  # already failing: the first error is the news
                await self.close()
            raise

    async def apply(self, events: Sequence[Event], dead_letters: Sequence[DeadLetter]) -> None:
        batch = fold(events)
        counted = traffic.TrafficFold()
        counted.add(events)
        traffic_rows = counted.rows()

        async def write(connection: AsyncConnection) -> None:
            await self._write(connection, batch)
            # The aggregates and breaker states in the same transaction as the steps.
            await traffic.write(connection, traffic_rows, self._statement("traffic"))
            if batch.breakers:
                await connection.execute(
                    self._statement("endpoint_state"), endpoints.state_rows(batch.breakers)
                )
            if dead_letters:
                await connection.execute(
                    self._statement("dead_letters"), [_dead_letter_row(d) for d in dead_letters]
                )

        if batch.steps or dead_letters or traffic_rows or batch.breakers:
            await self._run(write)

    async def set_aside(self, failures: Sequence[IndexFailure]) -> None:
        """Keep records that cannot be indexed where operators can find them."""
        now = datetime.now(UTC)
        rows = [
            {
                "at": now,
                "topic": f.topic,
                "partition": f.partition,
                "offset": f.offset,
                "message": (f.message or "")[:36] or None,
                "error": f.error[:4000],
                "value": f.value,
            }
            for f in failures
        ]

        async def write(connection: AsyncConnection) -> None:
            await connection.execute(insert(_table(IndexFailureRow)), rows)

        await self._run(write)

    async def _write(self, connection: AsyncConnection, batch: Batch) -> None:
        if batch.steps:
            await connection.execute(insert(_table(StepRow)), batch.steps)
        full, partial = batch.full_deliveries(), batch.partial_deliveries()
        if full:
            await connection.execute(self._statement("deliveries"), full)
        if partial:
            await connection.execute(self._statement("delivery_statuses"), partial)
        known: set[str] = set()
        new_rows = batch.new_messages()
        if new_rows:
            # Final rows of messages the store does not hold yet; RETURNING says which.
            result = await connection.execute(self._statement("new_messages"), new_rows)
            known = set(result.scalars())
        # The rest were in the store already: the first event of a message keeps its row,
        # except that an acceptance overwrites a rejection (the sender fixed it).
        accepted = [row for m, row in batch.accepted.items() if m not in known]
        rejected = [
            row for m, row in batch.rejected.items() if m not in known and m not in batch.accepted
        ]
        if accepted:
            await connection.execute(self._statement("accepted"), accepted)
        if rejected:
            await connection.execute(self._statement("rejected"), rejected)
        touched = batch.touched
        updates = {
            m: values for m, values in batch.updates.items() if m not in known and m not in touched
        }
        await self._update_messages(connection, updates)
        stale = [{"b_id": m} for m in sorted(touched - known)]
        if stale:
            await connection.execute(_RECOMPUTE, stale)

    def _statement(self, name: str) -> Any:
        statement = self._statements.get(name)
        if statement is None:
            statement = self._statements[name] = self._build(name)
        return statement

    def _build(self, name: str) -> Any:
        if name == "new_messages":
            return (
                self._module.insert(_MESSAGES)
                .on_conflict_do_nothing(index_elements=["id"])
                .returning(_MESSAGES.c.id)
            )
        if name in ("accepted", "rejected"):
            stmt = self._module.insert(_MESSAGES)
            overwrite = _STATUS_COLUMNS if name == "accepted" else ("updated_at", "last_error")
            return stmt.on_conflict_do_update(
                index_elements=["id"],
                set_={c: getattr(stmt.excluded, c) for c in overwrite},
                where=_MESSAGES.c.status == MessageStatus.REJECTED,
            )
        if name in ("deliveries", "delivery_statuses"):
            stmt = self._module.insert(_DELIVERIES)
            columns = _DELIVERY_COLUMNS if name == "deliveries" else _STATUS_COLUMNS
            return stmt.on_conflict_do_update(
                index_elements=["message", "endpoint"],
                set_={c: getattr(stmt.excluded, c) for c in columns},
            )
        if name == "traffic":
            return traffic.upsert_statement(self._engine.dialect.name)
        if name == "endpoint_state":
            return endpoints.upsert_statement(self._engine.dialect.name)
        if name == "dead_letters":
            return self._module.insert(_table(DeadLetterRow)).on_conflict_do_nothing(
                index_elements=["id"]
            )
        raise KeyError(name)

    async def _update_messages(
        self, connection: AsyncConnection, updates: dict[str, dict[str, Any]]
    ) -> None:
        """One executemany per set of changed columns, not one statement per message."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for message, values in updates.items():
            params = {"b_id": message, **{f"b_{k}": v for k, v in values.items()}}
            groups.setdefault(tuple(sorted(values)), []).append(params)
        for columns, rows in groups.items():
            await connection.execute(
                update(_MESSAGES)
                .where(_MESSAGES.c.id == bindparam("b_id"))
                .values({c: bindparam(f"b_{c}") for c in columns}),
                rows,
            )


def _dead_letter_row(dead: DeadLetter) -> dict[str, Any]:
    return {
        "id": dead.id,
        "message": dead.message,
        "stage": dead.stage,
        "endpoint": dead.endpoint,
        "reason": dead.reason,
        "topic": dead.topic,
        "headers": json.dumps(dead.headers, ensure_ascii=False),
        "payload": dead.payload,
        "created_at": dead.created_at,
        "replay_count": 0,
    }


__all__ = ["DeadLetter", "IndexFailure", "Indexer", "message_status"]
