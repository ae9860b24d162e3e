"""One message as the console shows it: its timeline and the documents of each hop.

The timeline is the message's trace (``Queries.message``) with what a reader wants beside
each step: the time since the step before and since acceptance, and a tone for its colour
(``ok``, ``warn``, ``bad``, ``info``).  Steps keep every field their event had (a routed
step's destinations with their adapter chains, an attempt's HTTP status and error, a
replay's or discard's ``by`` and ``reason``), so steps added later show without a change here.

The documents list names every hop the message should have one for (the original, each
destination's translation) and says of each whether the store still has it, and if not why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from exchange.records.status import DeliveryStatus, EventKind, MessageStatus
from exchange.store.documents import ORIGINAL, DocumentInfo

ORIGINAL_NAME = "original"  # how the API names the original document

_TONES: dict[str, str] = {
    EventKind.ACCEPTED: "ok",
    EventKind.ROUTED: "info",
    EventKind.DELIVERED: "ok",
    EventKind.DEAD_LETTERED: "bad",
    EventKind.REJECTED: "bad",
    EventKind.REPLAYED: "info",
    EventKind.DISCARDED: "warn",
}


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _ms(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round((later - earlier).total_seconds() * 1000, 1)


def tone(step: Mapping[str, Any]) -> str:
    if step.get("step") == EventKind.FAILED:
        return "warn" if step.get("retrying") else "bad"
    return _TONES.get(str(step.get("step")), "info")


def timeline(trace: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The trace's steps in order, each with ``since_previous_ms``, ``since_start_ms``, ``tone``."""
    steps: list[dict[str, Any]] = []
    start = previous = None
    for raw in trace:
        at = _time(raw.get("at"))
        start = start or at
        steps.append(
            {
                **raw,
                "since_previous_ms": _ms(at, previous),
                "since_start_ms": _ms(at, start),
                "tone": tone(raw),
            }
        )
        previous = at or previous
    return steps


def _days(ms: int) -> str:
    days = ms / 86_400_000
    if days >= 1:
        return f"{days:g} day{'s' if days != 1 else ''}"
    return f"{ms / 3_600_000:g} hour(s)"


def why_missing(
    *,
    message: Mapping[str, Any],
    delivery: Mapping[str, Any] | None,
    retention_ms: int,
    now: datetime,
) -> tuple[str, str]:
    """Why the store has no document for a hop: a code the page words in its language, and
    the same in English (for the API's readers)."""
    if retention_ms == 0:
        return "none_kept", (
            "not kept: this hub keeps no documents (EXCHANGE_DOCUMENT_RETENTION_MS=0); "
            "set it to keep them for new messages"
        )
    if message.get("status") == MessageStatus.REJECTED:
        return "rejected", "not kept: a rejected message never passed the front door"
    received = _time(message.get("received_at"))
    if (
        retention_ms > 0
        and received is not None
        and now - received > timedelta(milliseconds=retention_ms)
    ):
        return "dropped", (
            f"dropped: documents are kept {_days(retention_ms)} "
            "(EXCHANGE_DOCUMENT_RETENTION_MS) and this message is older"
        )
    if delivery is not None and delivery.get("status") == DeliveryStatus.DEAD_LETTERED:
        return "not_made", (
            "not made: no translated copy reached this receiver's queue "
            "(see the dead letter in the timeline)"
        )
    return "pending", "not captured yet: the store is catching up; reload in a moment"


def documents(
    message: Mapping[str, Any],
    kept: Sequence[DocumentInfo],
    *,
    formats: Mapping[str, str],
    retention_ms: int,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Every hop's document: the original first, then one per delivery (by endpoint)."""
    now = now or datetime.now(UTC)
    held = {info.endpoint: info for info in kept}
    deliveries = {d["endpoint"]: d for d in message.get("deliveries", [])}
    hops = [ORIGINAL, *sorted(deliveries.keys() | (held.keys() - {ORIGINAL}))]
    listed = []
    for endpoint in hops:
        info = held.get(endpoint)
        delivery = deliveries.get(endpoint)
        name = ORIGINAL_NAME if endpoint == ORIGINAL else endpoint
        entry: dict[str, Any] = {
            "name": name,
            "endpoint": endpoint or None,
            "format": message.get("message_type")
            if endpoint == ORIGINAL
            else formats.get(endpoint),
            "kept": info is not None,
            "route": (info.route if info else None) or (delivery or {}).get("route"),
            "adapters": list(info.adapters) if info else (delivery or {}).get("adapters", []),
        }
        if info is not None:
            entry["size_bytes"] = info.size_bytes
            entry["captured_at"] = info.captured_at.isoformat()
        else:
            entry["why_code"], entry["why"] = why_missing(
                message=message, delivery=delivery, retention_ms=retention_ms, now=now
            )
        listed.append(entry)
    return listed
