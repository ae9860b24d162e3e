"""Replay and discard: what an operator does with a dead letter once its cause is known.

A replay puts a dead letter back where it failed (its delivery's topic, or the router's
input) with a ``Replayed`` event saying who did it, in the same backbone write.  Many are
replayed in batches of ``BATCH``: one backbone write per batch, then one store update.

A discard gives up on a dead letter for good: the store marks it (who, when, why) and a
``Discarded`` event puts that in the message's trace and status.  The mark comes first, so
that two operators discarding at once discard it once; if the backbone then refuses the
event, the mark is taken back and the error goes to the operator.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence

from exchange import metrics
from exchange.backbone.base import Backbone, Record
from exchange.envelope import Envelope
from exchange.errors import ExchangeError
from exchange.pipeline.events import publishable
from exchange.records.events import Discarded, Replayed
from exchange.records.status import EventKind
from exchange.store import DeadLetter, Queries

BATCH = 500  # dead letters per backbone write
MAX_AT_ONCE = 100_000  # dead letters one request may replay or discard


class UnknownDeadLetter(ExchangeError):
    """No dead letter has that id."""


class AlreadyDiscarded(ExchangeError):
    """A discarded dead letter cannot be replayed."""


class AlreadyReplayed(ExchangeError):
    """A replayed dead letter cannot be discarded: its message went on (and may be
    delivered by now); a new failure makes a new dead letter."""


def _records(dead: DeadLetter, by: str | None) -> list[Record]:
    envelope = Envelope.from_headers(dead.headers)
    record = Record(
        topic=dead.topic,
        value=dead.payload,
        key=envelope.correlation_id,
        headers=dead.headers,
        dedup_key=f"{envelope.id}:replay:{uuid.uuid4()}",
    )
    replayed = Replayed(
        id=envelope.id,
        dead_letter=dead.id,
        topic=dead.topic,
        endpoint=dead.endpoint or None,
        by=by,
    )
    return [record, publishable(replayed)]


def _unknown(ids: Sequence[str]) -> UnknownDeadLetter:
    shown = ", ".join(repr(i) for i in ids[:5]) + (" ..." if len(ids) > 5 else "")
    return UnknownDeadLetter(
        f"no dead letter {shown}; list them with GET /v1/dead-letters or the console"
    )


async def replay(
    dead_letter_id: str, *, queries: Queries, backbone: Backbone, by: str | None = None
) -> dict[str, str]:
    """Replay one dead letter; ``by``: who asked (the operator's name)."""
    await replay_many([dead_letter_id], queries=queries, backbone=backbone, by=by)
    (dead,) = (await queries.dead.check([dead_letter_id])).found
    return {
        "id": dead.id,
        "message": dead.message,
        "status": EventKind.REPLAYED,
        "topic": (await queries.dead.load([dead.id]))[0].topic,
    }


async def replay_many(
    ids: Sequence[str],
    *,
    queries: Queries,
    backbone: Backbone,
    by: str | None,
    batch: int = BATCH,
) -> int:
    """Replay every one of ``ids``, or none if one is unknown or discarded; how many.

    Checked whole before the first is sent, so that a mistyped id does not leave half a
    selection replayed.  Each batch's payloads are read, written to the backbone in one
    write and marked replayed once durable: memory stays one batch's, and a crash in
    between replays a batch again (receivers deduplicate on the hub's id), never loses it.
    """
    ids = list(dict.fromkeys(ids))  # each once, in the order given
    checked = await queries.dead.check(ids)
    if checked.unknown:
        raise _unknown(checked.unknown)
    discarded = [state for state in checked.found if state.discarded is not None]
    if discarded:
        first, mark = discarded[0], discarded[0].discarded or {}
        more = f" (and {len(discarded) - 1} more of those asked)" if len(discarded) > 1 else ""
        raise AlreadyDiscarded(
            f"dead letter {first.id!r}{more} was discarded by {mark.get('by')} "
            f"({mark.get('reason')}) and cannot be replayed; leave discarded ones out"
        )
    counted = metrics.current()
    for start in range(0, len(ids), batch):
        chunk = await queries.dead.load(ids[start : start + batch])
        await backbone.publish([r for dead in chunk for r in _records(dead, by)])
        await queries.dead.mark_replayed([dead.id for dead in chunk])
        for endpoint, n in Counter(dead.endpoint or "" for dead in chunk).items():
            counted.replayed(endpoint, n)
    return len(ids)


async def discard_many(
    ids: Sequence[str],
    *,
    queries: Queries,
    backbone: Backbone,
    by: str,
    reason: str,
    batch: int = BATCH,
) -> int:
    """Discard ``ids`` (none if one is unknown or replayed); how many this call discarded
    (one that was discarded already stays as it was, by whoever did it)."""
    ids = list(dict.fromkeys(ids))
    checked = await queries.dead.check(ids)
    if checked.unknown:
        raise _unknown(checked.unknown)
    replayed = [state.id for state in checked.found if state.replayed]
    if replayed:
        shown = ", ".join(repr(i) for i in replayed[:5])
        raise AlreadyReplayed(
            f"dead letter {shown} was replayed already and cannot be discarded: its message "
            "went on; leave replayed ones out (a new failure makes a new dead letter)"
        )
    claimed = set(await queries.dead.discard(ids, by=by, reason=reason))
    letters = [state for state in checked.found if state.id in claimed]
    published = 0
    try:
        for start in range(0, len(letters), batch):
            chunk = letters[start : start + batch]
            events = [
                Discarded(
                    id=dead.message,
                    dead_letter=dead.id,
                    by=by,
                    reason=reason,
                    endpoint=dead.endpoint or None,
                )
                for dead in chunk
            ]
            await backbone.publish([publishable(e) for e in events])
            published += len(chunk)
    except BaseException:
        # Those whose event is not on the backbone are not discarded: take their marks back.
        await queries.dead.undo_discard([d.id for d in letters[published:]])
        raise
    return len(letters)
