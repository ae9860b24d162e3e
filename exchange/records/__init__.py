"""What travels on the backbone besides the documents themselves.

- ``headers``: the name of every header the hub writes on a record, what it holds, on which
  topic;
- ``events``: the pipeline's events as typed classes, and their one encoding;
- ``status``: event kinds, message and delivery statuses (string enums).

This package sits below both the stages that write records (exchange/pipeline/) and the store
that is built from them (exchange/store/), and imports neither: it needs only the envelope.
"""

from exchange.records import headers
from exchange.records.events import (
    Accepted,
    DeadLettered,
    Delivered,
    Destination,
    Event,
    Failed,
    Rejected,
    Replayed,
    Routed,
    UnreadableEvent,
    decode,
    encode,
)
from exchange.records.status import DeliveryStatus, EventKind, MessageStatus

__all__ = [
    "Accepted",
    "DeadLettered",
    "Delivered",
    "DeliveryStatus",
    "Destination",
    "Event",
    "EventKind",
    "Failed",
    "MessageStatus",
    "Rejected",
    "Replayed",
    "Routed",
    "UnreadableEvent",
    "decode",
    "encode",
    "headers",
]
