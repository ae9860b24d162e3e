"""Folding one batch of pipeline events into the rows it changes, in memory.

A message's accepted, routed and delivered events often arrive in the same batch; folding
them first means each message and each delivery is written once per batch, in its final
state, instead of inserted, updated and recomputed in turn.  What the batch cannot know on
its own (deliveries of a message that earlier batches wrote) is left to the store: see
``Batch.recompute``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from exchange.pipeline import events as ev

# Fields copied from an event into the step's detail (the rest are columns).
_STEP_COLUMNS = frozenset({"event", "id", "at", "endpoint"})

_DELIVERY_STATUS = {
    ev.DELIVERED: "delivered",
    ev.DEAD_LETTERED: "dead_lettered",
    ev.REPLAYED: "pending",
}


def message_status(delivery_statuses: Iterable[str]) -> str | None:
    """A message's status from its deliveries' (None: no deliveries yet).

    The store computes the same rule in SQL for messages whose deliveries the batch does
    not all hold (exchange/store/index.py, ``_status_from_deliveries``): change both.
    """
    statuses = set(delivery_statuses)
    if not statuses:
        return None
    if "dead_lettered" in statuses:
        return "dead_lettered"
    if "retrying" in statuses:
        return "failed"
    if statuses == {"delivered"}:
        return "delivered"
    if "delivered" in statuses:
        return "delivering"
    return "routed"


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
    errors = [r["last_error"] for r in rows if r["last_error"] and r["status"] != "delivered"]
    return {
        "status": message_status(r["status"] for r in rows),
        "updated_at": max(r["updated_at"] for r in rows),
        "last_error": errors[-1] if errors else None,
    }


def fold(events: Sequence[dict[str, Any]]) -> Batch:
    batch = Batch()
    for event in events:
        at = datetime.fromisoformat(event["at"])
        message, kind, endpoint = event["id"], event["event"], event.get("endpoint")
        detail = {k: v for k, v in event.items() if k not in _STEP_COLUMNS}
        batch.steps.append(
            {
                "message": message,
                "at": at,
                "step": kind,
                "endpoint": endpoint,
                "detail": json.dumps(detail, ensure_ascii=False),
            }
        )
        if kind in (ev.ACCEPTED, ev.REJECTED):
            row = {
                "id": message,
                "sender": event["sender"],
                "message_id": event["message_id"],
                "correlation_id": event["correlation_id"],
                "message_type": event["message_type"],
                "schema_version": event.get("schema_version"),
                "status": kind,
                "size_bytes": event.get("size", 0),
                "received_at": at,
                "updated_at": at,
                "last_error": event.get("reason"),
            }
            (batch.accepted if kind == ev.ACCEPTED else batch.rejected)[message] = row
        elif kind == ev.ROUTED:
            for dest in event["destinations"]:
                key = (message, dest["endpoint"])
                batch.deliveries[key] = _delivery(message, dest, "pending", at, attempts=0)
                batch.status_only.discard(key)
            batch.updates[message] = {"status": "routed", "updated_at": at}
        elif kind in (ev.DELIVERED, ev.FAILED, ev.DEAD_LETTERED, ev.REPLAYED) and endpoint:
            _fold_delivery(batch, event, message, kind, at)
        elif kind in (ev.DEAD_LETTERED, ev.REPLAYED):
            batch.updates[message] = {
                "status": "dead_lettered" if kind == ev.DEAD_LETTERED else "accepted",
                "updated_at": at,
                "last_error": event.get("reason"),
            }
    return batch


def _fold_delivery(
    batch: Batch, event: dict[str, Any], message: str, kind: str, at: datetime
) -> None:
    if kind == ev.FAILED:
        status = "retrying" if event.get("retrying") else "failed"
    else:
        status = _DELIVERY_STATUS[kind]
    key = (message, event["endpoint"])
    row = _delivery(
        message,
        event,
        status,
        at,
        attempts=event.get("attempt", 0),
        error=event.get("error") or event.get("reason"),
        http_status=event.get("status"),
    )
    earlier = batch.deliveries.get(key)
    if earlier is not None and "route" not in event:
        row["route"], row["adapters"] = earlier["route"], earlier["adapters"]
    if kind == ev.DEAD_LETTERED:
        if earlier is not None:
            row["attempts"] = earlier["attempts"]
            row["http_status"] = earlier["http_status"]
        else:
            batch.status_only.add(key)
    else:
        batch.status_only.discard(key)
    batch.deliveries[key] = row


def _delivery(
    message: str,
    source: dict[str, Any],
    status: str,
    at: datetime,
    *,
    attempts: int,
    error: str | None = None,
    http_status: int | None = None,
) -> dict[str, Any]:
    adapters = source.get("adapters") or []
    return {
        "message": message,
        "endpoint": source["endpoint"],
        "route": source.get("route", ""),
        "adapters": ",".join(adapters) if isinstance(adapters, list) else str(adapters),
        "status": status,
        "attempts": attempts,
        "last_error": error,
        "http_status": http_status,
        "updated_at": at,
    }
