"""Events onto the backbone: each typed event (exchange/records/events.py) as its record.

The stages publish these in the same backbone write as the step they describe, so the
trace is as durable as the message itself; the store is built from them
(exchange/pipeline/indexer.py).  Keyed by the hub's id: one message's events stay in order.
"""

from __future__ import annotations

from exchange.backbone.base import Record
from exchange.backbone.topics import EVENTS
from exchange.records.events import Event, encode


def publishable(event: Event) -> Record:
    return Record(topic=EVENTS, value=encode(event), key=event.id)
