"""Subscriptions in the store: requested by a department, approved or rejected by an operator.

The decision and the file it wrote are kept here for the record; the routes file itself
(``routes/subscriptions/``) is what the hub runs on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from exchange.envelope import utc_now
from exchange.store.models import SubscriptionRow

REQUESTED, APPROVED, REJECTED = "requested", "approved", "rejected"


@dataclass(frozen=True)
class SubscriptionRecord:
    id: int
    subscriber: str
    message_type: str
    format: str
    request: dict[str, Any]
    status: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    file: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subscriber": self.subscriber,
            "message_type": self.message_type,
            "format": self.format,
            "request": self.request,
            "status": self.status,
            "requested_at": self.requested_at.isoformat(),
            "decided_by": self.decided_by,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "reason": self.reason,
            "file": self.file,
        }


def _record(row: SubscriptionRow) -> SubscriptionRecord:
    return SubscriptionRecord(
        id=row.id,
        subscriber=row.subscriber,
        message_type=row.message_type,
        format=row.format,
        request=json.loads(row.request),
        status=row.status,
        requested_at=row.requested_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        reason=row.reason,
        file=row.file,
    )


class Subscriptions:
    """The subscriptions table; every method is one short transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def add(
        self, *, subscriber: str, message_type: str, format: str, request: dict[str, Any]
    ) -> SubscriptionRecord:
        row = SubscriptionRow(
            subscriber=subscriber,
            message_type=message_type,
            format=format,
            request=json.dumps(request, ensure_ascii=False, sort_keys=True),
            status=REQUESTED,
            requested_at=utc_now(),
        )
        async with self._sessions.begin() as session:
            session.add(row)
            await session.flush()
            return _record(row)

    async def get(self, subscription_id: int) -> SubscriptionRecord | None:
        async with self._sessions() as session:
            row = await session.get(SubscriptionRow, subscription_id)
            return None if row is None else _record(row)

    async def list(self, *, subscriber: str | None = None) -> list[SubscriptionRecord]:
        """Newest first; only ``subscriber``'s when given."""
        query = select(SubscriptionRow).order_by(SubscriptionRow.id.desc())
        if subscriber is not None:
            query = query.where(SubscriptionRow.subscriber == subscriber)
        async with self._sessions() as session:
            return [_record(row) for row in (await session.scalars(query)).all()]

    async def decide(
        self,
        subscription_id: int,
        *,
        status: str,
        by: str,
        reason: str | None = None,
        file: str | None = None,
    ) -> SubscriptionRecord | None:
        """Record the decision if the subscription is still requested; None if it was not
        (decided meanwhile, or unknown)."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(SubscriptionRow)
                .where(SubscriptionRow.id == subscription_id, SubscriptionRow.status == REQUESTED)
                .values(
                    status=status, decided_by=by, decided_at=utc_now(), reason=reason, file=file
                )
            )
            if getattr(result, "rowcount", 0) != 1:
                return None
            row = await session.get(SubscriptionRow, subscription_id)
            return None if row is None else _record(row)
