"""Dead letters: what the hub gave up on, with the reason, ready to replay.

A dead letter is a record on the dead-letters topic: the payload as it was
when the hub gave up, the envelope, and headers saying why, at which stage and
where a replay must publish it again.  The indexer copies it into the store,
where operators list and replay it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from exchange.backbone.base import Record
from exchange.backbone.topics import DEAD_LETTERS
from exchange.envelope import Envelope, utc_now
from exchange.pipeline import events
from exchange.store import DeadLetter

H_ID = "x-dead-letter-id"
H_STAGE = "x-dead-letter-stage"
H_ENDPOINT = "x-dead-letter-endpoint"
H_REASON = "x-dead-letter-reason"
H_TOPIC = "x-dead-letter-topic"
H_AT = "x-dead-letter-at"

# The router delivers a replayed message only to this endpoint (the one it failed for).
ONLY_ENDPOINT = "x-exchange-only-endpoint"


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
            H_ID: dead_id,
            H_STAGE: stage,
            H_REASON: reason[:2000],
            H_TOPIC: replay_topic,
            H_AT: utc_now().isoformat(),
        }
    )
    if endpoint:
        dead_headers[H_ENDPOINT] = endpoint
    record = Record(
        topic=DEAD_LETTERS,
        value=payload,
        key=envelope.correlation_id,
        headers=dead_headers,
    )
    fields: dict[str, object] = {"stage": stage, "reason": reason, "dead_letter": dead_id}
    if endpoint:
        fields["endpoint"] = endpoint
    if attempt is not None:
        fields["attempt"] = attempt
    return [record, events.event(events.DEAD_LETTERED, envelope.id, **fields)]


def from_record(headers: dict[str, str], payload: bytes) -> DeadLetter:
    """The store's row for a dead-letter record read back from the backbone."""
    envelope = Envelope.from_headers(headers)
    own = {H_ID, H_STAGE, H_ENDPOINT, H_REASON, H_TOPIC, H_AT}
    return DeadLetter(
        id=headers[H_ID],
        message=envelope.id,
        stage=headers[H_STAGE],
        endpoint=headers.get(H_ENDPOINT),
        reason=headers[H_REASON],
        topic=headers[H_TOPIC],
        headers={k: v for k, v in headers.items() if k not in own},
        payload=payload,
        created_at=datetime.fromisoformat(headers[H_AT]),
    )
