"""Read side of the store: one message's whole path, dead letters, counts."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from exchange.store.dead_letters import (
    BadCursor,
    DeadLetterFilter,
    DeadLetters,
    dead_letter_cursor,
)
from exchange.store.index import DeadLetter
from exchange.store.models import (
    DeliveryRow,
    IndexFailureRow,
    MessageRow,
    StepRow,
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class Queries:
    def __init__(self, sessions: async_sessionmaker[Any]) -> None:
        self._sessions = sessions
        self.dead = DeadLetters(sessions)  # filters, counts, replays and discards

    async def message(self, hub_id: str) -> dict[str, Any] | None:
        """The message's status, every step in order, and one record per destination."""
        async with self._sessions() as session:
            row = await session.get(MessageRow, hub_id)
            if row is None:
                return None
            steps = await session.scalars(
                select(StepRow).where(StepRow.message == hub_id).order_by(StepRow.seq)
            )
            deliveries = await session.scalars(
                select(DeliveryRow)
                .where(DeliveryRow.message == hub_id)
                .order_by(DeliveryRow.endpoint)
            )
            return {
                "id": row.id,
                "status": row.status,
                "sender": row.sender,
                "message_id": row.message_id,
                "correlation_id": row.correlation_id,
                "message_type": row.message_type,
                "schema_version": row.schema_version,
                "size_bytes": row.size_bytes,
                "received_at": _iso(row.received_at),
                "updated_at": _iso(row.updated_at),
                "last_error": row.last_error,
                "trace": [
                    {
                        "at": _iso(s.at),
                        "step": s.step,
                        "endpoint": s.endpoint,
                        **json.loads(s.detail),
                    }
                    for s in steps
                ],
                "deliveries": [
                    {
                        "endpoint": d.endpoint,
                        "route": d.route,
                        "adapters": [a for a in d.adapters.split(",") if a],
                        "status": d.status,
                        "attempts": d.attempts,
                        "last_error": d.last_error,
                        "http_status": d.http_status,
                        "updated_at": _iso(d.updated_at),
                    }
                    for d in deliveries
                ],
            }

    async def message_summaries(self, hub_ids: Collection[str]) -> dict[str, dict[str, str]]:
        """Status and sender's ids of each known message, without traces (idempotency)."""
        found: dict[str, dict[str, str]] = {}
        ids = list(hub_ids)
        async with self._sessions() as session:
            for start in range(0, len(ids), 500):
                rows = await session.execute(
                    select(
                        MessageRow.id,
                        MessageRow.status,
                        MessageRow.message_id,
                        MessageRow.correlation_id,
                    ).where(MessageRow.id.in_(ids[start : start + 500]))
                )
                for hub_id, status, message_id, correlation_id in rows:
                    found[hub_id] = {
                        "status": status,
                        "message_id": message_id,
                        "correlation_id": correlation_id,
                    }
        return found

    async def dead_letters(
        self,
        *,
        include_replayed: bool = False,
        endpoint: str | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> list[dict[str, Any]]:
        """Dead letters, newest first, as ``GET /v1/dead-letters`` lists them (discarded
        ones left out); ``after`` is the ``cursor`` of the last one a page showed."""
        rows = await self.dead.page(
            DeadLetterFilter(endpoint=endpoint, include_replayed=include_replayed),
            limit=limit,
            after=after,
        )
        for row in rows:
            del row["discarded"]
        return rows

    async def dead_letter(self, dead_letter_id: str) -> DeadLetter | None:
        found = await self.dead.load([dead_letter_id])
        return found[0] if found else None

    async def mark_replayed(self, dead_letter_id: str) -> None:
        await self.dead.mark_replayed([dead_letter_id])

    async def index_failures(self) -> int:
        """How many records the indexer had to set aside (each one logged as an error)."""
        async with self._sessions() as session:
            count = await session.scalar(select(func.count()).select_from(IndexFailureRow))
            return int(count or 0)

    async def counts_by_status(self) -> dict[str, int]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(MessageRow.status, func.count()).group_by(MessageRow.status)
            )
            return {status: count for status, count in rows}


__all__ = ["BadCursor", "DeadLetterFilter", "Queries", "dead_letter_cursor"]
