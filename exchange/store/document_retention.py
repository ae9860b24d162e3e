"""Document retention: bodies older than ``document_retention_ms`` leave the store.

Documents are the bulk of what the store holds (a few kilobytes per hop of every message),
and the console needs them only while people look into recent traffic; the message, its
trace and deliveries stay under the store's own retention (exchange/store/retention.py,
which also deletes the documents of the messages it deletes).  A pass every minute deletes
documents captured before the cut-off, ``batch`` per short transaction, walking the
``captured_at`` index, so the document writer and readers wait for one batch at most.

The console tells a dropped document from one never kept by the message's age against the
retention (exchange/console/message_view.py).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import Table, delete, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.envelope import utc_now
from exchange.errors import ConfigError
from exchange.store.models import DocumentRow

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 60.0
FIRST_PASS_SECONDS = 5.0
BATCH = 1000
PAUSE_SECONDS = 0.05  # between batches: let the other writers take SQLite's lock


def _table() -> Table:
    table: Table = DocumentRow.__table__  # type: ignore[assignment]
    return table


_DOCUMENTS = _table()


class DocumentRetention:
    def __init__(
        self,
        engine: AsyncEngine,
        retention_ms: int,
        *,
        batch: int = BATCH,
        interval: float = INTERVAL_SECONDS,
        first_pass: float = FIRST_PASS_SECONDS,
    ) -> None:
        if isinstance(retention_ms, bool) or retention_ms < 0:
            raise ConfigError(
                f"document_retention_ms={retention_ms!r} must be a whole number of "
                "milliseconds >= 0 for document retention to run (-1 keeps documents as long "
                "as their message: do not start it)"
            )
        self._engine = engine
        self._retention = timedelta(milliseconds=retention_ms)
        self._batch = batch
        self._interval = interval
        self._first_pass = first_pass

    async def run(self, stop: asyncio.Event) -> None:
        delay = self._first_pass
        while not await _stopped_within(stop, delay):
            delay = self._interval
            try:
                deleted = await self.sweep(stop=stop)
            except (OperationalError, InterfaceError, OSError, TimeoutError) as exc:
                log.warning(
                    "document retention: a pass failed (%s); trying again in %s s",
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                    self._interval,
                )
                continue
            if deleted:
                log.info(
                    "document retention deleted %d document(s) captured over %s ago",
                    deleted,
                    self._retention,
                )

    async def sweep(self, *, now: datetime | None = None, stop: asyncio.Event | None = None) -> int:
        """One pass: the documents captured before ``now`` minus the retention."""
        cutoff = (now or utc_now()) - self._retention
        d = _DOCUMENTS.c
        # The documents of up to ``batch`` messages at a time (a message's few hops go
        # together), found through the captured_at index.
        doomed = select(d.message).where(d.captured_at < cutoff).limit(self._batch)
        statement = delete(_DOCUMENTS).where(d.captured_at < cutoff, d.message.in_(doomed))
        total = 0
        while stop is None or not stop.is_set():
            async with self._engine.begin() as connection:
                deleted = (await connection.execute(statement)).rowcount
            total += deleted
            if deleted < self._batch:
                break
            await asyncio.sleep(PAUSE_SECONDS)
        return total


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True
