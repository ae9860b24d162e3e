"""Store retention: finished messages older than ``store_retention_ms`` leave the store.

Without it the store keeps one message row, its trace (steps) and one delivery row per
destination for every message ever sent, and grows without bound.  A pass, every
``INTERVAL_SECONDS``, deletes:

- messages whose status is final (``delivered``, ``rejected``) and whose last change is
  older than the retention, with their steps, deliveries and replayed dead letters;
- dead letters replayed before the cut-off (their message may still be here, in flight
  again or dead-lettered anew);
- index failures set aside before the cut-off;
- the traffic aggregates and backlog samples each grain no longer keeps (their own
  retention, exchange/store/traffic.py ``KEEP_SECONDS``, whatever ``store_retention_ms``).

A dead letter not replayed is never deleted, whatever its age, nor is the message behind it:
an operator still has to decide about it.  Messages in flight are not final and stay.

Each batch of ``batch`` messages (or dead letters, or index failures) is one short
transaction, so the indexer's writes and the readers wait for one batch at most, never for a
whole pass.  Deleted space is not given back (no VACUUM): SQLite reuses the freed pages, so
the file stops growing once retention deletes as much as the hub writes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Delete, Table, delete, exists, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import ReturningDelete

from exchange.envelope import utc_now
from exchange.errors import ConfigError
from exchange.records.status import MessageStatus
from exchange.store import traffic
from exchange.store.models import (
    DeadLetterRow,
    DeliveryRow,
    DocumentRow,
    IndexFailureRow,
    MessageRow,
    StepRow,
)

log = logging.getLogger(__name__)

KEEP_ALL = -1
FINAL = (MessageStatus.DELIVERED, MessageStatus.REJECTED)
INTERVAL_SECONDS = 60.0
FIRST_PASS_SECONDS = 5.0  # soon after start, once the stages are up
BATCH = 1000
# Between two batches: SQLite lets one writer in at a time, and a waiting one polls with a
# growing sleep; without a pause the next batch would take the lock before the indexer did.
PAUSE_SECONDS = 0.05


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


_MESSAGES = _table(MessageRow)
_STEPS = _table(StepRow)
_DELIVERIES = _table(DeliveryRow)
_DEAD_LETTERS = _table(DeadLetterRow)
_INDEX_FAILURES = _table(IndexFailureRow)
_DOCUMENTS = _table(DocumentRow)


@dataclass(slots=True)
class Swept:
    """Rows one pass deleted, by table."""

    messages: int = 0
    steps: int = 0
    deliveries: int = 0
    dead_letters: int = 0
    index_failures: int = 0
    traffic: int = 0  # rows of the traffic aggregates and backlog samples
    documents: int = 0  # of the messages deleted (younger ones: document_retention.py)

    @property
    def total(self) -> int:
        return (
            self.messages + self.steps + self.deliveries + self.dead_letters + self.index_failures
        )


def _old_final_messages(status: str, cutoff: datetime, batch: int) -> ReturningDelete[Any]:
    """Up to ``batch`` messages of ``status`` last changed before ``cutoff`` and not behind
    a dead letter that waits for a replay, deleted; RETURNING their ids."""
    # Aliases keep it plain which messages row the NOT EXISTS speaks of.
    candidate = _MESSAGES.alias("candidate")
    waiting = _DEAD_LETTERS.alias("waiting")
    unreplayed = exists().where(
        waiting.c.message == candidate.c.id, waiting.c.replayed_at.is_(None)
    )
    # status = ? AND updated_at < ?: a range of ix_messages_status_updated_at, so a pass
    # reads only what it deletes, not every delivered message the store holds.
    doomed = (
        select(candidate.c.id)
        .where(candidate.c.status == status, candidate.c.updated_at < cutoff, ~unreplayed)
        .limit(batch)
    )
    return delete(_MESSAGES).where(_MESSAGES.c.id.in_(doomed)).returning(_MESSAGES.c.id)


def _oldest(table: Table, key: str, condition: ColumnElement[bool], batch: int) -> Delete:
    """Up to ``batch`` rows of ``table`` (primary key ``key``) that meet ``condition``."""
    doomed = select(table.c[key]).where(condition).limit(batch)
    return delete(table).where(table.c[key].in_(doomed))


class StoreRetention:
    """Deletes what the retention lets go, a batch per transaction, a pass per interval."""

    def __init__(
        self,
        engine: AsyncEngine,
        retention_ms: int,
        *,
        batch: int = BATCH,
        interval: float = INTERVAL_SECONDS,
        first_pass: float = FIRST_PASS_SECONDS,
        pause: float = PAUSE_SECONDS,
    ) -> None:
        if isinstance(retention_ms, bool) or retention_ms < 0:
            raise ConfigError(
                f"store_retention_ms={retention_ms!r} must be a whole number of milliseconds "
                ">= 0 for store retention to run (-1 keeps everything: do not start it)"
            )
        if batch < 1:
            raise ConfigError(f"store retention batch={batch!r} must be at least 1")
        self._engine = engine
        self._retention = timedelta(milliseconds=retention_ms)
        self._batch = batch
        self._interval = interval
        self._first_pass = first_pass
        self._pause = pause

    async def run(self, stop: asyncio.Event) -> None:
        delay = self._first_pass
        while not await _stopped_within(stop, delay):
            delay = self._interval
            started = time.monotonic()
            try:
                swept = await self.sweep(stop=stop)
            except (OperationalError, InterfaceError, OSError, TimeoutError) as exc:
                # The store is down, or locked for longer than its busy timeout: nothing is
                # lost by waiting for the next pass.  Any other error is a fault, and the
                # stage's runner logs it whole.
                log.warning(
                    "store retention: a pass failed (%s); trying again in %s s",
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                    self._interval,
                )
                continue
            if swept.total:
                log.info(
                    "store retention deleted %d finished message(s) with %d step(s) and %d "
                    "deliveries, %d replayed dead letter(s) and %d index failure(s), all "
                    "older than %s, in %.1f s",
                    swept.messages,
                    swept.steps,
                    swept.deliveries,
                    swept.dead_letters,
                    swept.index_failures,
                    _describe(self._retention),
                    time.monotonic() - started,
                )

    async def sweep(
        self, *, now: datetime | None = None, stop: asyncio.Event | None = None
    ) -> Swept:
        """One pass: everything older than the retention at ``now`` (default: the clock)."""
        cutoff = (now or utc_now()) - self._retention
        swept = Swept()

        def stopping() -> bool:
            return stop is not None and stop.is_set()

        for status in FINAL:
            while not stopping():
                async with self._engine.begin() as connection:
                    deleted = await self._messages(connection, status, cutoff, swept)
                if deleted < self._batch:
                    break
                await asyncio.sleep(self._pause)
        dead = _DEAD_LETTERS
        replayed_long_ago = (
            # created_at, indexed, bounds the scan; replayed_at is never earlier than it
            (dead.c.created_at < cutoff)
            & dead.c.replayed_at.is_not(None)
            & (dead.c.replayed_at < cutoff)
        )
        swept.dead_letters += await self._in_batches(
            _oldest(dead, "id", replayed_long_ago, self._batch), stopping
        )
        failures = _INDEX_FAILURES
        swept.index_failures += await self._in_batches(
            _oldest(failures, "seq", failures.c.at < cutoff, self._batch), stopping
        )
        swept.traffic += await traffic.sweep(self._engine, now or utc_now(), stopping)
        return swept

    async def _messages(
        self, connection: AsyncConnection, status: str, cutoff: datetime, swept: Swept
    ) -> int:
        """One batch of messages and everything the store keeps about them."""
        result = await connection.execute(_old_final_messages(status, cutoff, self._batch))
        ids = list(result.scalars())
        if not ids:
            return 0
        swept.messages += len(ids)
        steps = await connection.execute(delete(_STEPS).where(_STEPS.c.message.in_(ids)))
        swept.steps += steps.rowcount
        deliveries = await connection.execute(
            delete(_DELIVERIES).where(_DELIVERIES.c.message.in_(ids))
        )
        swept.deliveries += deliveries.rowcount
        documents = await connection.execute(
            delete(_DOCUMENTS).where(_DOCUMENTS.c.message.in_(ids))
        )
        swept.documents += documents.rowcount
        # Only replayed ones can be left: the message was not taken if one waited.
        dead = await connection.execute(
            delete(_DEAD_LETTERS).where(
                _DEAD_LETTERS.c.message.in_(ids), _DEAD_LETTERS.c.replayed_at.is_not(None)
            )
        )
        swept.dead_letters += dead.rowcount
        return len(ids)

    async def _in_batches(self, statement: Delete, stopping: Callable[[], bool]) -> int:
        total = 0
        while not stopping():
            async with self._engine.begin() as connection:
                deleted = (await connection.execute(statement)).rowcount
            total += deleted
            if deleted < self._batch:
                break
            await asyncio.sleep(self._pause)
        return total


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


def _describe(retention: timedelta) -> str:
    if retention >= timedelta(days=1):
        return f"{retention.total_seconds() / 86400:g} day(s)"
    return f"{retention.total_seconds():g} s"
