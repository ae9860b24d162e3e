"""Applying pipeline events to the store, in batches.

One batch of events becomes a handful of bulk statements (insert steps, upsert
messages, upsert deliveries, recompute statuses), so the index keeps up with
thousands of messages a second on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from exchange.pipeline import events as ev
from exchange.store.models import (
    DeadLetterRow,
    DeliveryRow,
    IndexFailureRow,
    MessageRow,
    StepRow,
)

# Fields copied from an event into the step's detail (the rest are columns).
_STEP_COLUMNS = {"event", "id", "at", "endpoint"}


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


def message_status(delivery_statuses: Iterable[str]) -> str | None:
    """A message's status from its deliveries' (None: no deliveries yet)."""
    statuses = set(delivery_statuses)
    if not statuses:
        return None
    if "dead_lettered" in statuses:
        return "dead_lettered"
    if "retrying" in statuses:
        return "failed"
    if statuses == {"delivered"}:
        return "delivered"
    if "delivered" in statuses:
        return "delivering"
    return "routed"


class Indexer:
    def __init__(self, engine: AsyncEngine, sessions: async_sessionmaker[Any]) -> None:
        self._sessions = sessions
        self._dialect = engine.dialect.name

    def _insert(self, table: Any) -> Any:
        module = postgresql if self._dialect == "postgresql" else sqlite
        return module.insert(table)

    async def apply(
        self, events: Sequence[dict[str, Any]], dead_letters: Sequence[DeadLetter]
    ) -> None:
        steps: list[dict[str, Any]] = []
        accepted: dict[str, dict[str, Any]] = {}
        rejected: dict[str, dict[str, Any]] = {}
        deliveries: dict[tuple[str, str], dict[str, Any]] = {}
        # Deliveries whose event says nothing about attempts (a dead letter): keep the row's.
        status_only: set[tuple[str, str]] = set()
        message_updates: dict[str, dict[str, Any]] = {}
        for event in events:
            at = datetime.fromisoformat(event["at"])
            message, kind, endpoint = event["id"], event["event"], event.get("endpoint")
            detail = {k: v for k, v in event.items() if k not in _STEP_COLUMNS}
            steps.append(
                {
                    "message": message,
                    "at": at,
                    "step": kind,
                    "endpoint": endpoint,
                    "detail": json.dumps(detail, ensure_ascii=False),
                }
            )
            if kind in (ev.ACCEPTED, ev.REJECTED):
                row = {
                    "id": message,
                    "sender": event["sender"],
                    "message_id": event["message_id"],
                    "correlation_id": event["correlation_id"],
                    "message_type": event["message_type"],
                    "schema_version": event.get("schema_version"),
                    "status": kind,
                    "size_bytes": event.get("size", 0),
                    "received_at": at,
                    "updated_at": at,
                    "last_error": event.get("reason"),
                }
                (accepted if kind == ev.ACCEPTED else rejected)[message] = row
            elif kind == ev.ROUTED:
                for dest in event["destinations"]:
                    deliveries[(message, dest["endpoint"])] = _delivery(
                        message, dest, "pending", at, attempts=0
                    )
                message_updates[message] = {"status": "routed", "updated_at": at}
            elif kind in (ev.DELIVERED, ev.FAILED, ev.DEAD_LETTERED, ev.REPLAYED) and endpoint:
                status = {
                    ev.DELIVERED: "delivered",
                    ev.FAILED: "retrying" if event.get("retrying") else "failed",
                    ev.DEAD_LETTERED: "dead_lettered",
                    ev.REPLAYED: "pending",
                }[kind]
                key = (message, endpoint)
                row = _delivery(
                    message,
                    event,
                    status,
                    at,
                    attempts=event.get("attempt", 0),
                    error=event.get("error") or event.get("reason"),
                    http_status=event.get("status"),
                )
                earlier = deliveries.get(key)
                if earlier is not None and "route" not in event:
                    row["route"], row["adapters"] = earlier["route"], earlier["adapters"]
                if kind == ev.DEAD_LETTERED:
                    if earlier is not None:
                        row["attempts"] = earlier["attempts"]
                        row["http_status"] = earlier["http_status"]
                    else:
                        status_only.add(key)
                else:
                    status_only.discard(key)
                deliveries[key] = row
            elif kind in (ev.DEAD_LETTERED, ev.REPLAYED):
                status = "dead_lettered" if kind == ev.DEAD_LETTERED else "accepted"
                message_updates[message] = {
                    "status": status,
                    "updated_at": at,
                    "last_error": event.get("reason"),
                }

        async with self._sessions.begin() as session:
            if steps:
                # The Core table, not the ORM class: one executemany instead of the ORM's
                # per-row bookkeeping (the ORM version took most of a large batch's time).
                await session.execute(insert(_table(StepRow)), steps)
            # A message row is created by its first event; a later acceptance overwrites
            # a rejection (the sender fixed it), never the other way round.
            if accepted:
                await self._upsert_messages(
                    session, accepted, overwrite=("status", "updated_at", "last_error")
                )
            if rejected:
                await self._upsert_messages(
                    session, rejected, overwrite=("updated_at", "last_error")
                )
            await self._update_messages(session, message_updates)
            if deliveries:
                full = [row for key, row in deliveries.items() if key not in status_only]
                partial = [deliveries[key] for key in status_only]
                cols = ("status", "attempts", "last_error", "http_status", "updated_at")
                for rows, columns in (
                    (full, cols),
                    (partial, ("status", "last_error", "updated_at")),
                ):
                    if rows:
                        stmt = self._insert(_table(DeliveryRow))
                        stmt = stmt.on_conflict_do_update(
                            index_elements=["message", "endpoint"],
                            set_={c: getattr(stmt.excluded, c) for c in columns},
                        )
                        await session.execute(stmt, rows)
                await self._recompute(session, {m for m, _ in deliveries})
            if dead_letters:
                stmt = self._insert(_table(DeadLetterRow)).on_conflict_do_nothing(
                    index_elements=["id"]
                )
                await session.execute(stmt, [_dead_letter_row(d) for d in dead_letters])

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
        async with self._sessions.begin() as session:
            await session.execute(insert(_table(IndexFailureRow)), rows)

    async def _update_messages(self, session: Any, updates: dict[str, dict[str, Any]]) -> None:
        """One executemany per set of changed columns, not one statement per message."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for message, values in updates.items():
            params = {"b_id": message, **{f"b_{k}": v for k, v in values.items()}}
            groups.setdefault(tuple(sorted(values)), []).append(params)
        msg = _table(MessageRow)
        for columns, rows in groups.items():
            await session.execute(
                update(msg)
                .where(msg.c.id == bindparam("b_id"))
                .values({c: bindparam(f"b_{c}") for c in columns}),
                rows,
            )

    async def _upsert_messages(
        self, session: Any, rows: dict[str, dict[str, Any]], *, overwrite: tuple[str, ...]
    ) -> None:
        table = _table(MessageRow)
        stmt = self._insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["id"],
            set_={column: getattr(stmt.excluded, column) for column in overwrite},
            where=table.c.status == "rejected",
        )
        await session.execute(stmt, list(rows.values()))

    async def _recompute(self, session: Any, messages: set[str]) -> None:
        table = _table(DeliveryRow)
        by_message: dict[str, list[tuple[str, str | None, datetime]]] = {}
        ids = list(messages)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = await session.execute(
                select(
                    table.c.message, table.c.status, table.c.last_error, table.c.updated_at
                ).where(table.c.message.in_(chunk))
            )
            for message, status, error, at in rows:
                by_message.setdefault(message, []).append((status, error, at))
        updates = []
        for message, rows in by_message.items():
            status = message_status(s for s, _, _ in rows)
            errors = [e for s, e, _ in rows if e and s != "delivered"]
            updates.append(
                {
                    "b_id": message,
                    "b_status": status,
                    "b_updated_at": max(at for _, _, at in rows),
                    "b_last_error": errors[-1] if errors else None,
                }
            )
        if updates:
            msg = _table(MessageRow)
            await session.execute(
                update(msg)
                .where(msg.c.id == bindparam("b_id"))
                .values(
                    status=bindparam("b_status"),
                    updated_at=bindparam("b_updated_at"),
                    last_error=bindparam("b_last_error"),
                ),
                updates,
            )


def _delivery(
    message: str,
    source: dict[str, Any],
    status: str,
    at: datetime,
    *,
    attempts: int,
    error: str | None = None,
    http_status: int | None = None,
) -> dict[str, Any]:
    adapters = source.get("adapters") or []
    return {
        "message": message,
        "endpoint": source["endpoint"],
        "route": source.get("route", ""),
        "adapters": ",".join(adapters) if isinstance(adapters, list) else str(adapters),
        "status": status,
        "attempts": attempts,
        "last_error": error,
        "http_status": http_status,
        "updated_at": at,
    }


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
