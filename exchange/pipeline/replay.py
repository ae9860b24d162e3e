"""Replay: put a dead letter back where it failed, after the cause was fixed."""

from __future__ import annotations

import uuid

from exchange.backbone.base import Backbone, Record
from exchange.envelope import Envelope
from exchange.errors import ExchangeError
from exchange.pipeline.events import publishable
from exchange.records.events import Replayed
from exchange.records.status import EventKind
from exchange.store import Queries


class UnknownDeadLetter(ExchangeError):
    """No dead letter has that id."""


async def replay(dead_letter_id: str, *, queries: Queries, backbone: Backbone) -> dict[str, str]:
    dead = await queries.dead_letter(dead_letter_id)
    if dead is None:
        raise UnknownDeadLetter(
            f"no dead letter {dead_letter_id!r}; list them with GET /v1/dead-letters"
        )
    envelope = Envelope.from_headers(dead.headers)
    record = Record(
        topic=dead.topic,
        value=dead.payload,
        key=envelope.correlation_id,
        headers=dead.headers,
        dedup_key=f"{envelope.id}:replay:{uuid.uuid4()}",
    )
    replayed = Replayed(
        id=envelope.id, dead_letter=dead.id, topic=dead.topic, endpoint=dead.endpoint or None
    )
    await backbone.publish([record, publishable(replayed)])
    await queries.mark_replayed(dead.id)
    return {
        "id": dead.id,
        "message": envelope.id,
        "status": EventKind.REPLAYED,
        "topic": dead.topic,
    }
