"""Folding one batch of pipeline events into the rows it changes, in memory.

A message's accepted, routed and delivered events often arrive in the same batch; folding
them first means each message and each delivery is written once per batch, in its final
state, instead of inserted, updated and recomputed in turn.  What the batch cannot know on
its own (deliveries of a message that earlier batches wrote) is left to the store: see
``Batch.recompute``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from exchange.records.events import (
    Accepted,
    BreakerChanged,
    DeadLettered,
    Delivered,
    Discarded,
    Event,
    Failed,
    Rejected,
    Replayed,
    Routed,
    fields_of,
    to_json,
)
from exchange.records.status import DeliveryStatus, MessageStatus


def message_status(delivery_statuses: Iterable[str]) -> MessageStatus | None:
    """A message's status from its deliveries' (None: no deliveries yet).

    The store computes the same rule in SQL for messages whose deliveries the batch does
    not all hold (exchange/store/index.py, ``_status_from_deliveries``): change both.
    """
    statuses = set(delivery_statuses)
    if not statuses:
        return None
    if DeliveryStatus.DEAD_LETTERED in statuses:
        return MessageStatus.DEAD_LETTERED
    if DeliveryStatus.RETRYING in statuses:
        return MessageStatus.FAILED
    if statuses == {DeliveryStatus.DELIVERED}:
        return MessageStatus.DELIVERED
    # A discarded copy is finished as a delivered one is: nothing more will happen to it.
    finished = {DeliveryStatus.DELIVERED, DeliveryStatus.DISCARDED}
    if statuses <= finished:
        return MessageStatus.DISCARDED
    if statuses & finished:
        return MessageStatus.DELIVERING
    return MessageStatus.ROUTED


@dataclass(slots=True)
class Batch:
    """What one batch of events changes in the store."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    # A message's row as its last accepted (else rejected) event of the batch creates it.
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Message columns set by events that are not about one delivery (routed, a router's
    # dead letter, its replay); the last one of the batch wins.
    updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    # One final row per (message, endpoint) the batch touches.
    deliveries: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # Deliveries whose only news is a dead letter, which says nothing about attempts:
    # the stored row keeps its attempts and HTTP status.
    status_only: set[tuple[str, str]] = field(default_factory=set)
    # Each endpoint's latest breaker change of the batch (not a step of any message).
    breakers: dict[str, BreakerChanged] = field(default_factory=dict)

    @property
    def touched(self) -> set[str]:
        """Messages with a delivery in the batch: their status follows their deliveries'."""
        return {message for message, _ in self.deliveries}

    def full_deliveries(self) -> list[dict[str, Any]]:
        return [row for key, row in self.deliveries.items() if key not in self.status_only]

    def partial_deliveries(self) -> list[dict[str, Any]]:
        return [self.deliveries[key] for key in self.status_only]

    def new_messages(self) -> list[dict[str, Any]]:
        """Each message's row in its final state, as it is if the store does not hold it yet.

        Its deliveries are then all in this batch (a message's events start with its
        acceptance), so its status is computed here, without reading the store.
        """
        touched = self.touched
        by_message: dict[str, list[dict[str, Any]]] = {}
        for (message, _), row in sorted(self.deliveries.items()):
            by_message.setdefault(message, []).append(row)
        rows = []
        for message in self.accepted.keys() | self.rejected.keys():
            row = dict(self.accepted.get(message) or self.rejected[message])
            if message in touched:
                row.update(_from_deliveries(by_message[message]))
            elif message in self.updates:
                row.update(self.updates[message])
            rows.append(row)
        return rows


def _from_deliveries(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Status, time and error of a message from all its deliveries (ordered by endpoint)."""
    errors = [
        r["last_error"] for r in rows if r["last_error"] and r["status"] != DeliveryStatus.DELIVERED
    ]
    return {
        "status": message_status(r["status"] for r in rows),
        "updated_at": max(r["updated_at"] for r in rows),
        "last_error": errors[-1] if errors else None,
    }


# Fields delivery events carry for the traffic aggregates (exchange/store/traffic.py),
# not shown in the trace.
_FOR_TRAFFIC_ONLY: dict[type[Event], tuple[str, ...]] = {
    Accepted: ("ingress_ms",),
    Delivered: ("sender", "message_type", "e2e_ms"),
    Failed: ("sender", "message_type"),
    DeadLettered: ("sender", "message_type", "route"),
}


def fold(events: Sequence[Event]) -> Batch:
    batch = Batch()
    for event in events:
        if isinstance(event, BreakerChanged):
            batch.breakers[event.endpoint] = event
            continue
        message, at = event.id, event.at
        detail = fields_of(event)  # what the step shows besides its columns
        endpoint = detail.pop("endpoint", None)
        for name in _FOR_TRAFFIC_ONLY.get(type(event), ()):  # the store's rows say them
            detail.pop(name, None)
        batch.steps.append(
            {
                "message": message,
                "at": at,
                "step": event.kind,
                "endpoint": endpoint,
                "detail": to_json(detail),
            }
        )
        if isinstance(event, Accepted | Rejected):
            accepted = isinstance(event, Accepted)
            row = {
                "id": message,
                "sender": event.sender,
                "message_id": event.message_id,
                "correlation_id": event.correlation_id,
                "message_type": event.message_type,
                "schema_version": event.schema_version,
                "status": MessageStatus.ACCEPTED if accepted else MessageStatus.REJECTED,
                "size_bytes": event.size,
                "received_at": at,
                "updated_at": at,
                "last_error": event.reason if isinstance(event, Rejected) else None,
            }
            (batch.accepted if accepted else batch.rejected)[message] = row
        elif isinstance(event, Routed):
            for dest in event.destinations:
                key = (message, dest.endpoint)
                batch.deliveries[key] = _delivery(
                    message,
                    dest.endpoint,
                    DeliveryStatus.PENDING,
                    at,
                    route=dest.route,
                    adapters=",".join(dest.adapters),
                )
                batch.status_only.discard(key)
            batch.updates[message] = {"status": MessageStatus.ROUTED, "updated_at": at}
        elif (
            isinstance(event, Delivered | Failed | DeadLettered | Replayed | Discarded)
            and event.endpoint
        ):
            _fold_delivery(batch, event, event.endpoint)
        elif isinstance(event, DeadLettered):  # the router gave up on the whole message
            batch.updates[message] = {
                "status": MessageStatus.DEAD_LETTERED,
                "updated_at": at,
                "last_error": event.reason,
            }
        elif isinstance(event, Replayed):  # ... and an operator sent it back to the router
            batch.updates[message] = {
                "status": MessageStatus.ACCEPTED,
                "updated_at": at,
                "last_error": None,
            }
        elif isinstance(event, Discarded):  # ... or gave up on it for good
            batch.updates[message] = {
                "status": MessageStatus.DISCARDED,
                "updated_at": at,
                "last_error": _discarded(event),
            }
    return batch


def _discarded(event: Discarded) -> str:
    return f"discarded by {event.by}: {event.reason}"


def _fold_delivery(
    batch: Batch,
    event: Delivered | Failed | DeadLettered | Replayed | Discarded,
    endpoint: str,
) -> None:
    key = (event.id, endpoint)
    earlier = batch.deliveries.get(key)
    if isinstance(event, Delivered | Failed):
        if isinstance(event, Delivered):
            status, error = DeliveryStatus.DELIVERED, None
        else:
            status = DeliveryStatus.RETRYING if event.retrying else DeliveryStatus.FAILED
            error = event.error or None
        row = _delivery(
            event.id,
            endpoint,
            status,
            event.at,
            route=event.route,
            adapters=",".join(event.adapters),
            attempts=event.attempt,
            error=error,
            http_status=event.status,
        )
    elif isinstance(event, Replayed):
        row = _delivery(event.id, endpoint, DeliveryStatus.PENDING, event.at)
    elif isinstance(event, Discarded):
        row = _delivery(
            event.id, endpoint, DeliveryStatus.DISCARDED, event.at, error=_discarded(event)
        )
    else:
        row = _delivery(
            event.id,
            endpoint,
            DeliveryStatus.DEAD_LETTERED,
            event.at,
            attempts=event.attempt or 0,
            error=event.reason or None,
        )
    if earlier is not None and not isinstance(event, Delivered | Failed):
        # A dead letter or a replay does not say the route: the router's row does.
        row["route"], row["adapters"] = earlier["route"], earlier["adapters"]
    if isinstance(event, DeadLettered | Discarded):
        if earlier is not None:  # a dead letter says nothing of the tries: keep the row's
            row["attempts"] = earlier["attempts"]
            row["http_status"] = earlier["http_status"]
        else:
            batch.status_only.add(key)
    else:
        batch.status_only.discard(key)
    batch.deliveries[key] = row


def _delivery(
    message: str,
    endpoint: str,
    status: DeliveryStatus,
    at: datetime,
    *,
    route: str = "",
    adapters: str = "",
    attempts: int = 0,
    error: str | None = None,
    http_status: int | None = None,
) -> dict[str, Any]:
    return {
        "message": message,
        "endpoint": endpoint,
        "route": route,
        "adapters": adapters,
        "status": status,
        "attempts": attempts,
        "last_error": error,
        "http_status": http_status,
        "updated_at": at,
    }
