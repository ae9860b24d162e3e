"""Read side of the store: one message's whole path, dead letters, counts."""

from __future__ import annotations

import base64
import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from exchange.envelope import utc_now
from exchange.store.index import DeadLetter
from exchange.store.models import (
    DeadLetterRow,
    DeliveryRow,
    IndexFailureRow,
    MessageRow,
    StepRow,
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class BadCursor(ValueError):
    """A paging cursor that this store did not hand out."""


def dead_letter_cursor(row: dict[str, Any]) -> str:
    """The cursor of the page that follows ``row`` (a row ``Queries.dead_letters`` listed)."""
    raw = f"{row['created_at']}|{row['id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, row_id = raw.split("|", 1)
        parsed = datetime.fromisoformat(at)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadCursor(
            f"cursor {cursor[:40]!r} is not one this hub handed out; "
            "use the next_cursor of the previous page"
        ) from exc
    return parsed, row_id


class Queries:
    def __init__(self, sessions: async_sessionmaker[Any]) -> None:
        self._sessions = sessions

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
        """Dead letters, newest first; ``after`` is the ``cursor`` of the last one a page
        showed (keyset paging: stable while new dead letters arrive)."""
        table = DeadLetterRow
        query = select(table).order_by(table.created_at.desc(), table.id.desc()).limit(limit)
        if not include_replayed:
            query = query.where(table.replayed_at.is_(None))
        if endpoint is not None:
            query = query.where(table.endpoint == endpoint)
        if after is not None:
            at, last_id = _read_cursor(after)
            query = query.where(
                (table.created_at < at) | ((table.created_at == at) & (table.id < last_id))
            )
        async with self._sessions() as session:
            rows = await session.scalars(query)
            return [
                {
                    "id": r.id,
                    "message": r.message,
                    "stage": r.stage,
                    "endpoint": r.endpoint,
                    "reason": r.reason,
                    "created_at": _iso(r.created_at),
                    "replayed_at": _iso(r.replayed_at),
                    "replay_count": r.replay_count,
                }
                for r in rows
            ]

    async def dead_letter(self, dead_letter_id: str) -> DeadLetter | None:
        async with self._sessions() as session:
            r = await session.get(DeadLetterRow, dead_letter_id)
            if r is None:
                return None
            return DeadLetter(
                id=r.id,
                message=r.message,
                stage=r.stage,
                endpoint=r.endpoint,
                reason=r.reason,
                topic=r.topic,
                headers=json.loads(r.headers),
                payload=r.payload,
                created_at=r.created_at,
            )

    async def mark_replayed(self, dead_letter_id: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(DeadLetterRow)
                .where(DeadLetterRow.id == dead_letter_id)
                .values(replayed_at=utc_now(), replay_count=DeadLetterRow.replay_count + 1)
            )

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
