"""The indexer: events and dead letters from the backbone into the store.

The store is an index: when it is unreachable, records stay on the backbone and the
indexer tries again until it is back.  A record that the store refuses for what it
holds (a value too long for its column, a field missing) is a different matter: it
would fail on every try and stall the index for every message behind it.  Such a
record is found by splitting the failed batch, set aside in ``index_failures`` with
its error (and logged as an error), and the others are indexed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import exc as sa

from exchange.backbone.base import Backbone, ConsumedRecord, OwnershipLost, TopicPartition
from exchange.backbone.topics import DEAD_LETTERS, EVENTS
from exchange.envelope import HEADERS
from exchange.pipeline.deadletter import from_record
from exchange.records.events import Event, decode
from exchange.store import DeadLetter, IndexFailure, Store

log = logging.getLogger(__name__)

GROUP = "store-indexer"
RETRY_SECONDS = 1.0

# Errors that say the store cannot be reached or used right now, whatever the records:
# wait for it rather than blame a record.
_OUTAGES: tuple[type[BaseException], ...] = (
    sa.OperationalError,
    sa.InterfaceError,
    sa.DisconnectionError,
    sa.TimeoutError,
    OSError,
    TimeoutError,
)


def is_outage(error: BaseException) -> bool:
    if isinstance(error, sa.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, _OUTAGES)


@dataclass(frozen=True, slots=True)
class _Entry:
    """One consumed record, decoded."""

    record: ConsumedRecord
    event: Event | None = None
    dead_letter: DeadLetter | None = None


class _StoreDown(Exception):
    pass


class IndexWriter:
    def __init__(self, backbone: Backbone, store: Store) -> None:
        self._backbone = backbone
        self._store = store

    async def run(self, stop: asyncio.Event) -> None:
        consumer = await self._backbone.consumer(GROUP, [EVENTS, DEAD_LETTERS])
        try:
            while not stop.is_set():
                batch = await consumer.fetch(max_records=2000, timeout=0.05)
                if not batch:
                    continue
                offsets: dict[TopicPartition, int] = {}
                for record in batch:
                    offsets[record.position] = record.offset + 1
                if not await self._index(batch, stop):
                    return
                try:
                    await consumer.commit(offsets)
                except OwnershipLost as lost:
                    # Indexing is idempotent: the new owner indexes these records again.
                    log.info("%s", lost)
        finally:
            await consumer.close()

    async def _index(self, batch: Sequence[ConsumedRecord], stop: asyncio.Event) -> bool:
        """Write the batch (setting aside what cannot be written); False if stopped first."""
        entries: list[_Entry] = []
        unreadable: list[IndexFailure] = []
        for record in batch:
            try:
                entries.append(_decode(record))
            except (ValueError, KeyError, TypeError) as error:
                unreadable.append(_failure(record, f"unreadable record: {error!r}"))
        refused: list[IndexFailure] | None = None
        while not stop.is_set():
            try:
                if refused is None:
                    refused = [*unreadable, *await self._write(entries)]
                    _report(refused)
                await self._set_aside(refused)
                return True
            except _StoreDown as down:
                log.error("cannot write to the store (%s); retrying in %s s", down, RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)
        return False

    async def _write(self, entries: Sequence[_Entry]) -> list[IndexFailure]:
        """Index the entries; those the store refuses one by one are returned, not written."""
        try:
            await self._apply(entries)
            return []
        except Exception as error:
            if is_outage(error):
                raise _StoreDown(repr(error)) from error
            refused = await self._split(entries, error)
        if len(refused) == len(entries) > 1:
            # Every record alone fails the same way: the store, not the records.
            raise _StoreDown(refused[0].error)
        return refused

    async def _split(self, entries: Sequence[_Entry], error: Exception) -> list[IndexFailure]:
        if len(entries) == 1:
            return [_failure(entries[0].record, repr(error))]
        half = len(entries) // 2
        refused: list[IndexFailure] = []
        for part in (entries[:half], entries[half:]):  # in order: later events see earlier
            try:
                await self._apply(part)
            except Exception as part_error:
                if is_outage(part_error):
                    raise _StoreDown(repr(part_error)) from part_error
                refused += await self._split(part, part_error)
        return refused

    async def _apply(self, entries: Sequence[_Entry]) -> None:
        await self._store.index.apply(
            [e.event for e in entries if e.event is not None],
            [e.dead_letter for e in entries if e.dead_letter is not None],
        )

    async def _set_aside(self, failures: Sequence[IndexFailure]) -> None:
        if not failures:
            return
        try:
            await self._store.index.set_aside(failures)
        except Exception as error:
            raise _StoreDown(repr(error)) from error


def _report(failures: Sequence[IndexFailure]) -> None:
    for failure in failures:
        log.error(
            "could not index %s record %s/%s of message %s; set aside in the store's "
            "index_failures table (that message's status may be stale): %s",
            failure.topic,
            failure.partition,
            failure.offset,
            failure.message,
            failure.error,
        )


def _decode(record: ConsumedRecord) -> _Entry:
    if record.topic == EVENTS:
        return _Entry(record, event=decode(record.value))
    return _Entry(record, dead_letter=from_record(record.headers, record.value))


def _failure(record: ConsumedRecord, error: str) -> IndexFailure:
    # Dead letters carry the message's id in their headers; events are keyed by it.
    message = record.headers.get(HEADERS["id"]) or record.key
    return IndexFailure(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        message=message,
        error=error,
        value=record.value,
    )
