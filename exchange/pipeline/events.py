"""Events: what the pipeline says happened, published on the backbone's events topic.

The store is built from these (exchange/pipeline/indexer.py).  Publishing them
in the same backbone write as the step they describe means the trace is as
durable as the message itself.
"""

from __future__ import annotations

import json
from typing import Any

from exchange.backbone.base import Record
from exchange.backbone.topics import EVENTS
from exchange.envelope import Envelope, utc_now

ACCEPTED = "accepted"
REJECTED = "rejected"
ROUTED = "routed"
DELIVERED = "delivered"
FAILED = "failed"
DEAD_LETTERED = "dead_lettered"
REPLAYED = "replayed"


def event(kind: str, message: str, **fields: Any) -> Record:
    body = {"event": kind, "id": message, "at": utc_now().isoformat(), **fields}
    return Record(topic=EVENTS, value=json.dumps(body, ensure_ascii=False).encode(), key=message)


def _identity(envelope: Envelope) -> dict[str, Any]:
    """What the index needs to create a message's row from its first event."""
    return {
        "sender": envelope.sender,
        "message_id": envelope.message_id,
        "correlation_id": envelope.correlation_id,
        "message_type": envelope.message_type,
        "schema_version": envelope.schema_version,
    }


def accepted(envelope: Envelope, size: int, via: str) -> Record:
    return event(ACCEPTED, envelope.id, **_identity(envelope), size=size, via=via)


def rejected(envelope: Envelope, size: int, status: int, reason: str) -> Record:
    return event(
        REJECTED, envelope.id, **_identity(envelope), size=size, status=status, reason=reason
    )


def decode(value: bytes) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(value)
    return decoded
