"""The document writer: each message's documents from the backbone into the store.

The console shows what the sender sent and what each receiver got.  Both already travel on
the backbone: the original on ``inbound``, each destination's translation (as the router
wrote it, the bytes delivery sends) on ``deliver.<endpoint>``.  This stage reads those topics
in a consumer group of its own, ``store-documents``, and keeps each body in the store's
``documents`` table (exchange/store/documents.py), so the hot path does no extra work for
it: no stage writes a document twice, and a slow store only makes this group lag.

It runs beside the indexer.  With ``document_retention_ms`` 0 it still reads and commits,
keeping nothing: a group that stopped committing would keep the embedded log from ever
deleting the records it had not read.

Documents are a view for people, not the record of what happened: a batch the store
refuses for what it holds is logged and skipped; a store that is down is waited for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from exchange.backbone.base import Backbone, ConsumedRecord, OwnershipLost, TopicPartition
from exchange.backbone.topics import INBOUND, delivery_topic
from exchange.envelope import HEADERS
from exchange.pipeline.indexer import is_outage
from exchange.records import headers as h
from exchange.ruleset import RuleSet
from exchange.store.documents import ORIGINAL, Document, Documents

log = logging.getLogger(__name__)

GROUP = "store-documents"
RETRY_SECONDS = 1.0
BATCH = 1000


def topics_of(rules: RuleSet) -> list[str]:
    """``inbound`` and the delivery topic of every endpoint the rules names."""
    return [INBOUND, *(delivery_topic(name) for name in sorted(rules.routing.endpoints))]


def document_of(record: ConsumedRecord, captured_at: datetime) -> Document | None:
    """The document a record carries (None: not one, or its payload could not be had)."""
    headers = record.headers
    message = headers.get(HEADERS["id"])
    if not message or h.CLAIM_ERROR in headers:
        return None
    if record.topic == INBOUND:
        return Document(
            message=message, endpoint=ORIGINAL, body=record.value, captured_at=captured_at
        )
    endpoint = headers.get(h.ENDPOINT)
    if not endpoint:
        return None
    adapters = tuple(name for name in headers.get(h.ADAPTERS, "").split(",") if name)
    return Document(
        message=message,
        endpoint=endpoint,
        body=record.value,
        captured_at=captured_at,
        route=headers.get(h.ROUTE, ""),
        adapters=adapters,
    )


class DocumentWriter:
    def __init__(
        self,
        backbone: Backbone,
        documents: Documents,
        rules: Callable[[], RuleSet],
        *,
        keep: bool = True,
    ) -> None:
        self._backbone = backbone
        self._documents = documents
        self._rules = rules
        self._keep = keep  # False: document retention is 0, read and commit only

    async def run(self, stop: asyncio.Event) -> None:
        topics = topics_of(self._rules())
        consumer = await self._backbone.consumer(GROUP, topics)
        try:
            while not stop.is_set():
                wanted = topics_of(self._rules())
                if set(wanted) - set(topics):
                    # A reload added endpoints: the group reads their topics too, from a
                    # fresh consumer (between batches, everything read is committed). Topics
                    # of removed endpoints stay, for the records still delivered there.
                    topics = sorted(set(topics) | set(wanted))
                    await consumer.close()
                    consumer = await self._backbone.consumer(GROUP, topics)
                    log.info("documents: now reading %s", ", ".join(topics))
                batch = await consumer.fetch(max_records=BATCH, timeout=0.2)
                if not batch:
                    continue
                offsets: dict[TopicPartition, int] = {}
                for record in batch:
                    offsets[record.position] = record.offset + 1
                if self._keep and not await self._write(batch, stop):
                    return
                try:
                    await consumer.commit(offsets)
                except OwnershipLost as lost:
                    log.info("%s", lost)  # the new owner writes them (the same rows)
        finally:
            await consumer.close()
            await self._documents.close()

    async def _write(self, batch: Sequence[ConsumedRecord], stop: asyncio.Event) -> bool:
        """Keep the batch's documents; False if stopped while waiting for the store."""
        now = datetime.now(UTC)
        documents = [d for d in (document_of(r, now) for r in batch) if d is not None]
        while not stop.is_set():
            try:
                await self._documents.write(documents)
                return True
            except Exception as error:
                if not is_outage(error):
                    log.error(
                        "could not keep the documents of %d message(s) (%r); the console "
                        "will say they were not kept",
                        len({d.message for d in documents}),
                        error,
                    )
                    return True
                log.error(
                    "cannot write documents to the store (%r); retrying in %s s",
                    error,
                    RETRY_SECONDS,
                )
                await asyncio.sleep(RETRY_SECONDS)
        return False
