"""The indexer: events and dead letters from the backbone into the store."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from exchange.backbone.base import Backbone, OwnershipLost, TopicPartition
from exchange.backbone.topics import DEAD_LETTERS, EVENTS
from exchange.pipeline import events
from exchange.pipeline.deadletter import from_record
from exchange.store import DeadLetter, Store

log = logging.getLogger(__name__)

GROUP = "store-indexer"


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
                found: list[dict[str, Any]] = []
                dead: list[DeadLetter] = []
                offsets: dict[TopicPartition, int] = {}
                for record in batch:
                    offsets[record.position] = record.offset + 1
                    try:
                        if record.topic == EVENTS:
                            found.append(events.decode(record.value))
                        else:
                            dead.append(from_record(dict(record.headers), record.value))
                    except (ValueError, KeyError):
                        log.exception(
                            "skipping unreadable %s record %s", record.topic, record.offset
                        )
                while not stop.is_set():
                    try:
                        await self._store.index.apply(found, dead)
                        break
                    except Exception:
                        # The store is an index: keep the records on the backbone until it is back.
                        log.exception("cannot write to the store; retrying in 1 s")
                        await asyncio.sleep(1.0)
                else:
                    return
                try:
                    await consumer.commit(offsets)
                except OwnershipLost as lost:
                    # Indexing is idempotent: the new owner indexes these records again.
                    log.info("%s", lost)
        finally:
            await consumer.close()
