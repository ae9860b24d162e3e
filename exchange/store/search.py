"""Searching the message index: the console's Messages page.

Filters (all optional, all exact): the hub's id, the sender's message id, the correlation
id, sender, message type, receiver (an endpoint the message has a delivery to), status and a
time range on ``received_at``.  Results come newest first, ``limit`` a page, and the page
after is asked for by the cursor of the page before (keyset paging on ``received_at, id``:
stable while new messages arrive, and as cheap on page 1,000 as on page 1).

Fast on millions of messages because every filter has an index that hands out its rows
newest first (exchange/store/models.py), so a page reads about ``limit`` index entries:

- the ids: their own indexes (one row, or a handful);
- sender, type, status: ``(column, received_at)``, read backwards;
- none: ``received_at``;
- receiver: an endpoint with many deliveries is checked per message while walking the
  messages newest first (a primary-key probe each, and most messages match); one with few is
  read from ``ix_deliveries_endpoint_message`` and those messages sorted (a few thousand at
  most).  Which of the two is decided by counting at most ``FEW_DELIVERIES`` of its rows.

``bench/console_search.py`` measures every kind on a store of 1,000,000 messages.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, exists, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.store.models import DeliveryRow, MessageRow

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
# An endpoint with fewer deliveries than this is searched from its deliveries: sorting them
# costs less than walking every message to find its few.
FEW_DELIVERIES = 5000


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


_MESSAGES = _table(MessageRow)
_DELIVERIES = _table(DeliveryRow)


class BadSearch(ValueError):
    """A search this store cannot run as asked (a cursor it did not hand out, a bad limit)."""


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """What a message must match; None: anything."""

    id: str | None = None
    message_id: str | None = None
    correlation_id: str | None = None
    sender: str | None = None
    message_type: str | None = None
    endpoint: str | None = None
    status: str | None = None
    since: datetime | None = None  # received at or after
    until: datetime | None = None  # received before

    def as_dict(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }


@dataclass(frozen=True, slots=True)
class Page:
    messages: list[dict[str, Any]]
    next_cursor: str | None


def cursor_after(received_at: datetime, hub_id: str) -> str:
    raw = f"{received_at.isoformat()}|{hub_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, hub_id = raw.split("|", 1)
        return datetime.fromisoformat(at), hub_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadSearch(
            f"cursor {cursor[:40]!r} is not one this hub handed out; "
            "use the next_cursor of the previous page, or start again without one"
        ) from exc


_COLUMNS = (
    "id",
    "message_id",
    "correlation_id",
    "sender",
    "message_type",
    "status",
    "received_at",
    "updated_at",
)


class MessageSearch:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def search(
        self, where: SearchFilter, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
    ) -> Page:
        if not 1 <= limit <= MAX_LIMIT:
            raise BadSearch(f"limit {limit} is out of range; ask for 1 to {MAX_LIMIT} a page")
        after = read_cursor(cursor) if cursor else None
        async with self._engine.connect() as connection:
            few = None
            if where.endpoint is not None and where.id is None:
                few = await connection.scalar(_few_deliveries(where.endpoint))
            query = _query(where, after, limit + 1, from_deliveries=bool(few))
            rows = [dict(row._mapping) for row in await connection.execute(query)]
            page, more = rows[:limit], len(rows) > limit
            endpoints = await _endpoints(connection, [row["id"] for row in page])
        for row in page:
            row["endpoints"] = endpoints.get(row["id"], [])
        next_cursor = cursor_after(page[-1]["received_at"], page[-1]["id"]) if more else None
        for row in page:
            row["received_at"] = row["received_at"].isoformat()
            row["updated_at"] = row["updated_at"].isoformat()
        return Page(page, next_cursor)


def _few_deliveries(endpoint: str) -> Select[Any]:
    """1 if ``endpoint`` has fewer than FEW_DELIVERIES deliveries, else 0 (reads at most
    that many index entries)."""
    some = (
        select(_DELIVERIES.c.message)
        .where(_DELIVERIES.c.endpoint == endpoint)
        .limit(FEW_DELIVERIES)
        .subquery()
    )
    return select(func.count() < FEW_DELIVERIES).select_from(some)


def _query(
    where: SearchFilter,
    after: tuple[datetime, str] | None,
    limit: int,
    *,
    from_deliveries: bool,
) -> Select[Any]:
    m = _MESSAGES.c
    conditions: list[ColumnElement[bool]] = []
    for name in ("id", "message_id", "correlation_id", "sender", "message_type", "status"):
        value = getattr(where, name)
        if value is not None:
            conditions.append(m[name] == value)
    if where.since is not None:
        conditions.append(m.received_at >= where.since)
    if where.until is not None:
        conditions.append(m.received_at < where.until)
    if after is not None:
        at, hub_id = after
        # The first term bounds the index range; the second breaks ties at the same time.
        conditions.append(m.received_at <= at)
        conditions.append(or_(m.received_at < at, m.id < hub_id))
    if where.endpoint is not None:
        d = _DELIVERIES.c
        if from_deliveries:
            conditions.append(m.id.in_(select(d.message).where(d.endpoint == where.endpoint)))
        else:
            conditions.append(exists().where(d.message == m.id, d.endpoint == where.endpoint))
    return (
        select(*(m[name] for name in _COLUMNS))
        .where(and_(true(), *conditions))
        .order_by(m.received_at.desc(), m.id.desc())
        .limit(limit)
    )


async def _endpoints(connection: Any, ids: Sequence[str]) -> dict[str, list[str]]:
    """Each message's receivers, by endpoint name (primary-key reads of ``deliveries``)."""
    if not ids:
        return {}
    d = _DELIVERIES.c
    rows = await connection.execute(
        select(d.message, d.endpoint).where(d.message.in_(ids)).order_by(d.message, d.endpoint)
    )
    found: dict[str, list[str]] = {}
    for message, endpoint in rows:
        found.setdefault(message, []).append(endpoint)
    return found
