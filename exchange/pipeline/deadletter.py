"""Dead letters: what the hub gave up on, with the reason, ready to replay.

A dead letter is a record on the dead-letters topic: the payload as it was
when the hub gave up, the envelope, and headers saying why, at which stage and
where a replay must publish it again.  The indexer copies it into the store,
where operators list and replay it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime

from exchange import metrics
from exchange.backbone.base import Record
from exchange.backbone.topics import DEAD_LETTERS
from exchange.envelope import Envelope, utc_now
from exchange.pipeline.events import publishable
from exchange.records import headers as h
from exchange.records.events import DeadLettered
from exchange.store import DeadLetter

log = logging.getLogger(__name__)


def dead_letter(
    *,
    envelope: Envelope,
    stage: str,
    reason: str,
    payload: bytes,
    replay_topic: str,
    headers: dict[str, str],
    endpoint: str | None = None,
    attempt: int | None = None,
) -> list[Record]:
    """The dead-letter record and the event that puts it in the message's trace."""
    dead_id = str(uuid.uuid4())
    dead_headers = dict(headers)
    dead_headers.update(
        {
            h.DEAD_LETTER_ID: dead_id,
            h.DEAD_LETTER_STAGE: stage,
            h.DEAD_LETTER_REASON: reason[:2000],
            h.DEAD_LETTER_TOPIC: replay_topic,
            h.DEAD_LETTER_AT: utc_now().isoformat(),
        }
    )
    if endpoint:
        dead_headers[h.DEAD_LETTER_ENDPOINT] = endpoint
    record = Record(
        topic=DEAD_LETTERS,
        value=payload,
        key=envelope.correlation_id,
        headers=dead_headers,
    )
    event = DeadLettered(
        id=envelope.id,
        stage=stage,
        reason=reason,
        dead_letter=dead_id,
        endpoint=endpoint or None,
        attempt=attempt,
        sender=envelope.sender,  # for the traffic aggregates
        message_type=envelope.message_type,
        route=headers.get(h.ROUTE) or None,
    )
    metrics.current().dead_lettered(
        stage, envelope.sender, envelope.message_type, event.route or "", endpoint or ""
    )
    # rare, and what an operator must act on: worth a line of its own
    log.warning(
        "dead-lettered %s at %s%s: %s",
        envelope.id,
        stage,
        f" for {endpoint}" if endpoint else "",
        reason[:500],
        extra={"hub_id": envelope.id},
    )
    return [record, publishable(event)]


def from_record(headers: Mapping[str, str], payload: bytes) -> DeadLetter:
    """The store's row for a dead-letter record read back from the backbone (one an earlier
    version wrote too: its header names are upgraded)."""
    headers = h.upgraded(headers)
    envelope = Envelope.from_headers(headers)
    return DeadLetter(
        id=headers[h.DEAD_LETTER_ID],
        message=envelope.id,
        stage=headers[h.DEAD_LETTER_STAGE],
        endpoint=headers.get(h.DEAD_LETTER_ENDPOINT),
        reason=headers[h.DEAD_LETTER_REASON],
        topic=headers[h.DEAD_LETTER_TOPIC],
        headers={k: v for k, v in headers.items() if k not in h.DEAD_LETTER},
        payload=payload,
        created_at=datetime.fromisoformat(headers[h.DEAD_LETTER_AT]),
    )
