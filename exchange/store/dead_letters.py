"""Dead letters in the store: listed by filter a page at a time, counted, replayed, discarded.

A filter (``DeadLetterFilter``) names the set an operator looks at: by endpoint, stage and
a piece of the reason, with or without those already replayed or discarded.  The same
filter counts the set a "replay all matching" would replay (never a discarded one), and
hands out its ids, so that what the operator confirmed is what is replayed.

Discarding writes a row of ``dead_letter_discards`` (who, when, why); the dead letter itself
stays, for the record, and lists hide it unless asked.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import defer

from exchange.envelope import utc_now
from exchange.store.index import DeadLetter
from exchange.store.models import DeadLetterDiscardRow, DeadLetterRow, MessageRow

# Rows per statement when many ids are read or changed at once (SQLite allows 32,766
# parameters; PostgreSQL 65,535): small enough for either, large enough to be quick.
ID_CHUNK = 500
STAGES = ("route", "deliver")


class BadCursor(ValueError):
    """A paging cursor that this store did not hand out."""


def dead_letter_cursor(row: dict[str, Any]) -> str:
    """The cursor of the page that follows ``row`` (a row ``DeadLetters.page`` listed)."""
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


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Which dead letters: all the conditions given must hold."""

    endpoint: str | None = None
    stage: str | None = None  # "route" or "deliver"
    reason: str | None = None  # a piece of the reason, any case
    include_replayed: bool = False
    include_discarded: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "stage": self.stage,
            "reason": self.reason,
            "include_replayed": self.include_replayed,
            "include_discarded": self.include_discarded,
        }

    def conditions(self, *, replayable: bool = False) -> list[ColumnElement[bool]]:
        """SQL conditions on ``dead_letters`` outer-joined to ``dead_letter_discards``;
        ``replayable``: leave out the discarded ones whatever the filter says."""
        dead, discard = DeadLetterRow, DeadLetterDiscardRow
        found: list[ColumnElement[bool]] = []
        if self.endpoint is not None:
            found.append(dead.endpoint == self.endpoint)
        if self.stage is not None:
            found.append(dead.stage == self.stage)
        if self.reason:
            # autoescape: a % or _ the operator typed is that character, not a wildcard
            found.append(func.lower(dead.reason).contains(self.reason.lower(), autoescape=True))
        if not self.include_replayed:
            found.append(dead.replayed_at.is_(None))
        if replayable or not self.include_discarded:
            found.append(discard.dead_letter.is_(None))
        return found


def _joined(*columns: Any) -> Select[Any]:
    return (
        select(*columns)
        .select_from(DeadLetterRow)
        .outerjoin(DeadLetterDiscardRow, DeadLetterDiscardRow.dead_letter == DeadLetterRow.id)
    )


def _listed(dead: DeadLetterRow, discard: DeadLetterDiscardRow | None) -> dict[str, Any]:
    return {
        "id": dead.id,
        "message": dead.message,
        "stage": dead.stage,
        "endpoint": dead.endpoint,
        "reason": dead.reason,
        "created_at": _iso(dead.created_at),
        "replayed_at": _iso(dead.replayed_at),
        "replay_count": dead.replay_count,
        "discarded": _discard(discard),
    }


def _dead_letter(row: DeadLetterRow) -> DeadLetter:
    return DeadLetter(
        id=row.id,
        message=row.message,
        stage=row.stage,
        endpoint=row.endpoint,
        reason=row.reason,
        topic=row.topic,
        headers=json.loads(row.headers),
        payload=row.payload,
        created_at=row.created_at,
    )


@dataclass(frozen=True, slots=True)
class State:
    """Where a dead letter stands, without its payload (cheap to ask of many)."""

    id: str
    message: str
    endpoint: str | None
    replayed: bool
    discarded: dict[str, Any] | None  # {at, by, reason} once discarded


@dataclass(frozen=True, slots=True)
class Checked:
    """Dead letters looked up by id: those found, in the order asked, and the unknown ids."""

    found: list[State]
    unknown: list[str]


def _discard(discard: DeadLetterDiscardRow | None) -> dict[str, Any] | None:
    if discard is None:
        return None
    return {"at": _iso(discard.at), "by": discard.by, "reason": discard.reason}


class DeadLetters:
    def __init__(self, sessions: async_sessionmaker[Any]) -> None:
        self._sessions = sessions

    async def page(
        self,
        which: DeadLetterFilter,
        *,
        limit: int = 100,
        after: str | None = None,
        with_message: bool = False,
    ) -> list[dict[str, Any]]:
        """Dead letters of ``which``, newest first; ``after`` is the cursor of the last one
        a page showed (keyset paging: stable while new dead letters arrive).
        ``with_message``: add the sender's message id and the sender of each."""
        dead = DeadLetterRow
        query = (
            _joined(dead, DeadLetterDiscardRow)
            .options(defer(dead.payload), defer(dead.headers))  # a page shows neither
            .where(*which.conditions())
            .order_by(dead.created_at.desc(), dead.id.desc())
            .limit(limit)
        )
        if after is not None:
            at, last_id = _read_cursor(after)
            query = query.where(
                (dead.created_at < at) | ((dead.created_at == at) & (dead.id < last_id))
            )
        async with self._sessions() as session:
            rows = [_listed(d, discard) for d, discard in await session.execute(query)]
            if with_message and rows:
                senders = await session.execute(
                    select(MessageRow.id, MessageRow.sender, MessageRow.message_id).where(
                        MessageRow.id.in_({r["message"] for r in rows})
                    )
                )
                known = {hub_id: (sender, mid) for hub_id, sender, mid in senders}
                for row in rows:
                    sender, message_id = known.get(row["message"], (None, None))
                    row["sender"], row["message_id"] = sender, message_id
            return rows

    async def count(self, which: DeadLetterFilter) -> int:
        """How many dead letters a replay of ``which`` would replay (discarded ones never)."""
        query = _joined(func.count()).where(*which.conditions(replayable=True))
        async with self._sessions() as session:
            return int(await session.scalar(query) or 0)

    async def replayable_ids(self, which: DeadLetterFilter, *, limit: int) -> list[str]:
        """The ids ``count`` counts (oldest first, as they failed), at most ``limit``."""
        dead = DeadLetterRow
        query = (
            _joined(dead.id)
            .where(*which.conditions(replayable=True))
            .order_by(dead.created_at, dead.id)
            .limit(limit)
        )
        async with self._sessions() as session:
            return list(await session.scalars(query))

    async def check(self, ids: Sequence[str]) -> Checked:
        """Where each of ``ids`` stands: known or not, replayed, discarded."""
        dead = DeadLetterRow
        by_id: dict[str, State] = {}
        async with self._sessions() as session:
            for start in range(0, len(ids), ID_CHUNK):
                rows = await session.execute(
                    _joined(
                        dead.id, dead.message, dead.endpoint, dead.replayed_at, DeadLetterDiscardRow
                    ).where(dead.id.in_(list(ids[start : start + ID_CHUNK])))
                )
                for dead_id, message, endpoint, replayed_at, discard in rows:
                    by_id[dead_id] = State(
                        id=dead_id,
                        message=message,
                        endpoint=endpoint,
                        replayed=replayed_at is not None,
                        discarded=_discard(discard),
                    )
        return Checked(
            found=[by_id[i] for i in ids if i in by_id],
            unknown=[i for i in ids if i not in by_id],
        )

    async def load(self, ids: Sequence[str]) -> list[DeadLetter]:
        """The dead letters of ``ids``, payloads and all (ask for a batch at a time)."""
        async with self._sessions() as session:
            rows = {
                row.id: row
                for row in await session.scalars(
                    select(DeadLetterRow).where(DeadLetterRow.id.in_(list(ids)))
                )
            }
        return [_dead_letter(rows[i]) for i in ids if i in rows]

    async def mark_replayed(self, ids: Sequence[str]) -> None:
        now = utc_now()
        async with self._sessions.begin() as session:
            for start in range(0, len(ids), ID_CHUNK):
                await session.execute(
                    update(DeadLetterRow)
                    .where(DeadLetterRow.id.in_(list(ids[start : start + ID_CHUNK])))
                    .values(replayed_at=now, replay_count=DeadLetterRow.replay_count + 1)
                )

    async def discard(self, ids: Sequence[str], *, by: str, reason: str) -> list[str]:
        """Mark ``ids`` discarded; the ids this call discarded (not those already were)."""
        now = utc_now()
        rows = [{"dead_letter": i, "at": now, "by": by, "reason": reason} for i in ids]
        table = DeadLetterDiscardRow.__table__
        claimed: list[str] = []
        async with self._sessions.begin() as session:
            dialect = session.get_bind().dialect.name
            module: Any = postgresql if dialect == "postgresql" else sqlite
            for start in range(0, len(rows), ID_CHUNK):
                # Two operators discarding at once: each dead letter is discarded once,
                # by whoever came first; RETURNING says which were this call's.
                result = await session.execute(
                    module.insert(table)
                    .values(rows[start : start + ID_CHUNK])
                    .on_conflict_do_nothing(index_elements=["dead_letter"])
                    .returning(table.c.dead_letter)
                )
                claimed.extend(result.scalars())
        return claimed

    async def undo_discard(self, ids: Sequence[str]) -> None:
        """Take back discards whose event could not be published (the backbone refused)."""
        async with self._sessions.begin() as session:
            await session.execute(
                delete(DeadLetterDiscardRow).where(DeadLetterDiscardRow.dead_letter.in_(ids))
            )


__all__ = [
    "STAGES",
    "BadCursor",
    "Checked",
    "DeadLetterFilter",
    "DeadLetters",
    "State",
    "dead_letter_cursor",
]
