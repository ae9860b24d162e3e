"""Applying pipeline events to the index: message and delivery statuses, steps, dead letters."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from sqlalchemy import select

from exchange.store import Store, message_status
from exchange.store.models import DeadLetterRow, DeliveryRow, MessageRow, StepRow

from .conftest import MESSAGE_TYPE, ROUTE, Flow

TAX = "tax-bureau"
LER = "legal-entity-registry"


async def _rows(store: Store, model: type[Any], order: Any = None) -> list[dict[str, Any]]:
    table = model.__table__
    query = select(table)
    if order is not None:
        query = query.order_by(order)
    async with store.engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings()]


async def _message(store: Store, flow: Flow) -> dict[str, Any]:
    rows = [r for r in await _rows(store, MessageRow) if r["id"] == flow.id]
    assert len(rows) == 1
    return rows[0]


async def _deliveries(store: Store, flow: Flow) -> dict[str, dict[str, Any]]:
    return {r["endpoint"]: r for r in await _rows(store, DeliveryRow) if r["message"] == flow.id}


async def test_accepted_creates_the_message_row(store: Store) -> None:
    flow = Flow("order-17")

    await store.index.apply([flow.accepted(size=4321)], [])

    row = await _message(store, flow)
    assert row["status"] == "accepted"
    assert row["sender"] == "samr-reg"
    assert row["message_id"] == "order-17"
    assert row["correlation_id"] == flow.envelope.correlation_id
    assert row["message_type"] == MESSAGE_TYPE
    assert row["schema_version"] == "1.0"
    assert row["size_bytes"] == 4321
    assert row["last_error"] is None
    assert row["received_at"] == row["updated_at"]
    assert await _rows(store, DeliveryRow) == []


async def test_routed_creates_pending_deliveries(store: Store) -> None:
    flow = Flow()

    await store.index.apply([flow.accepted(), flow.routed(TAX, LER)], [])

    assert (await _message(store, flow))["status"] == "routed"
    deliveries = await _deliveries(store, flow)
    assert sorted(deliveries) == [LER, TAX]
    assert {d["status"] for d in deliveries.values()} == {"pending"}
    assert {d["attempts"] for d in deliveries.values()} == {0}
    assert deliveries[LER]["route"] == ROUTE
    assert deliveries[LER]["adapters"] == "samr-to-canonical"
    assert deliveries[TAX]["adapters"] == ""


async def test_message_is_delivered_once_every_destination_is(store: Store) -> None:
    flow = Flow()
    await store.index.apply([flow.accepted(), flow.routed(TAX, LER)], [])

    await store.index.apply([flow.delivered(TAX, status=202)], [])
    assert (await _message(store, flow))["status"] == "delivering"

    await store.index.apply([flow.delivered(LER, attempt=2)], [])
    message = await _message(store, flow)
    assert message["status"] == "delivered"
    assert message["last_error"] is None
    deliveries = await _deliveries(store, flow)
    assert deliveries[TAX]["status"] == deliveries[LER]["status"] == "delivered"
    assert deliveries[TAX]["http_status"] == 202
    assert deliveries[LER]["attempts"] == 2
    # The routing facts survive the delivery event.
    assert deliveries[LER]["adapters"] == "samr-to-canonical"


async def test_a_retrying_failure_marks_the_message_failed(store: Store) -> None:
    flow = Flow()
    await store.index.apply([flow.accepted(), flow.routed(TAX, LER)], [])

    await store.index.apply(
        [flow.delivered(LER), flow.failed(TAX, 1, retrying=True, status=503)], []
    )

    delivery = (await _deliveries(store, flow))[TAX]
    assert delivery["status"] == "retrying"
    assert delivery["attempts"] == 1
    assert delivery["http_status"] == 503
    assert delivery["last_error"] == "HTTP 503: try later"
    message = await _message(store, flow)
    assert message["status"] == "failed"
    assert message["last_error"] == "HTTP 503: try later"

    # The next attempt succeeds: the message is delivered and carries no error.
    await store.index.apply([flow.delivered(TAX, attempt=2)], [])
    message = await _message(store, flow)
    assert (message["status"], message["last_error"]) == ("delivered", None)


async def test_dead_lettered_delivery_keeps_its_attempts_and_marks_the_message(
    store: Store,
) -> None:
    flow = Flow()
    event, dead = flow.dead_lettered(TAX)
    await store.index.apply([flow.accepted(), flow.routed(TAX, LER), flow.delivered(LER)], [])
    await store.index.apply(
        [flow.failed(TAX, 1, retrying=True), flow.failed(TAX, 2, retrying=True)], []
    )
    await store.index.apply([flow.failed(TAX, 3, retrying=False, status=500)], [])

    await store.index.apply([event], [dead])

    delivery = (await _deliveries(store, flow))[TAX]
    assert delivery["status"] == "dead_lettered"
    assert delivery["attempts"] == 3
    assert delivery["http_status"] == 500
    assert delivery["route"] == ROUTE
    assert delivery["last_error"] == "after 3 attempts: HTTP 503: try later"
    message = await _message(store, flow)
    assert message["status"] == "dead_lettered"
    assert message["last_error"] == "after 3 attempts: HTTP 503: try later"
    (row,) = await _rows(store, DeadLetterRow)
    assert (row["id"], row["message"], row["endpoint"]) == (dead.id, flow.id, TAX)


async def test_one_batch_gives_the_same_result_as_one_event_at_a_time(store: Store) -> None:
    """The indexer batches whatever the backbone hands it: batching must not change the outcome."""
    flows = Flow("one-at-a-time"), Flow("all-at-once")
    paths = []
    for flow in flows:
        event, dead = flow.dead_lettered(TAX)
        path = [
            flow.accepted(),
            flow.routed(TAX, LER),
            flow.failed(TAX, 1, retrying=True),
            flow.delivered(LER),
            flow.failed(TAX, 2, retrying=False, status=400),
            event,
        ]
        paths.append((path, dead))

    for event in paths[0][0]:
        await store.index.apply([event], [])
    await store.index.apply(paths[1][0], [])

    def comparable(rows: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
        keys = ("status", "attempts", "http_status", "route", "adapters", "last_error")
        return {e: tuple(r[k] for k in keys) for e, r in rows.items()}

    one = comparable(await _deliveries(store, flows[0]))
    batch = comparable(await _deliveries(store, flows[1]))
    assert one == batch
    assert one[TAX] == ("dead_lettered", 2, 400, ROUTE, "", "after 3 attempts: HTTP 503: try later")
    assert one[LER][0] == "delivered"
    statuses = {(await _message(store, f))["status"] for f in flows}
    assert statuses == {"dead_lettered"}


async def test_dead_lettered_by_the_router_marks_the_message(store: Store) -> None:
    flow = Flow()
    event, dead = flow.dead_lettered(None, reason="no route for samr.EnterpriseRegistration")
    await store.index.apply([flow.accepted()], [])

    await store.index.apply([event], [dead])

    message = await _message(store, flow)
    assert message["status"] == "dead_lettered"
    assert message["last_error"] == "no route for samr.EnterpriseRegistration"
    assert await _rows(store, DeliveryRow) == []
    (row,) = await _rows(store, DeadLetterRow)
    assert (row["stage"], row["endpoint"], row["topic"]) == ("route", None, "inbound")


async def test_replay_puts_the_delivery_back_to_pending(store: Store) -> None:
    flow = Flow()
    event, dead = flow.dead_lettered(TAX)
    await store.index.apply([flow.accepted(), flow.routed(TAX, LER), flow.delivered(LER)], [])
    await store.index.apply([flow.failed(TAX, 1, retrying=False), event], [dead])

    await store.index.apply([flow.replayed(dead)], [])

    delivery = (await _deliveries(store, flow))[TAX]
    assert (delivery["status"], delivery["attempts"]) == ("pending", 0)
    assert (await _message(store, flow))["status"] == "delivering"

    await store.index.apply([flow.delivered(TAX)], [])
    assert (await _message(store, flow))["status"] == "delivered"


async def test_replay_of_a_router_dead_letter_makes_the_message_accepted_again(
    store: Store,
) -> None:
    flow = Flow()
    event, dead = flow.dead_lettered(None, reason="adapter failed")
    await store.index.apply([flow.accepted(), event], [dead])

    await store.index.apply([flow.replayed(dead)], [])

    message = await _message(store, flow)
    assert (message["status"], message["last_error"]) == ("accepted", None)


@pytest.mark.parametrize("batched", [False, True], ids=["two-batches", "one-batch"])
async def test_accepted_after_rejected_wins(store: Store, batched: bool) -> None:
    """A sender fixes a rejected message and sends it again under the same id."""
    flow = Flow()
    first, second = flow.rejected("line 3: bad date"), flow.accepted(size=77)
    batches = [[first, second]] if batched else [[first], [second]]
    for batch in batches:
        await store.index.apply(batch, [])

    message = await _message(store, flow)
    assert message["status"] == "accepted"
    assert message["last_error"] is None
    steps = await _rows(store, StepRow, StepRow.seq)
    assert [s["step"] for s in steps] == ["rejected", "accepted"]


async def test_rejected_alone_records_the_reason(store: Store) -> None:
    flow = Flow()

    await store.index.apply([flow.rejected("line 3: bad date")], [])
    await store.index.apply([flow.rejected("line 4: bad amount")], [])

    message = await _message(store, flow)
    assert (message["status"], message["last_error"]) == ("rejected", "line 4: bad amount")


@pytest.mark.parametrize("batched", [False, True], ids=["two-batches", "one-batch"])
async def test_rejected_after_accepted_does_not_undo_it(store: Store, batched: bool) -> None:
    """A resubmission that fails must not hide the accepted copy already on its way."""
    flow = Flow()
    first, second = flow.accepted(), flow.rejected("payload differs")
    batches = [[first, second]] if batched else [[first], [second]]
    for batch in batches:
        await store.index.apply(batch, [])

    message = await _message(store, flow)
    assert (message["status"], message["last_error"]) == ("accepted", None)


async def test_dead_letters_are_stored_once_however_often_they_are_applied(store: Store) -> None:
    flow = Flow()
    event, dead = flow.dead_lettered(TAX)
    await store.index.apply([flow.accepted(), flow.routed(TAX), event], [dead])
    await store.queries.mark_replayed(dead.id)

    # The indexer may see the same records again after a crash before its commit.
    await store.index.apply([event], [dead])
    await store.index.apply([], [dead, dead])

    (row,) = await _rows(store, DeadLetterRow)
    assert row["id"] == dead.id
    assert row["message"] == flow.id
    assert row["stage"] == "deliver"
    assert row["topic"] == "deliver.tax-bureau"
    assert row["reason"] == dead.reason
    assert row["payload"] == "<Registration>€</Registration>".encode()
    assert json.loads(row["headers"]) == flow.envelope.to_headers()
    assert row["replay_count"] == 1  # not reset by the second copy
    assert row["replayed_at"] is not None


async def test_steps_keep_their_order_and_details(store: Store) -> None:
    flow = Flow()
    events = [
        flow.accepted(size=10),
        flow.routed(TAX, LER),
        flow.failed(TAX, 1, retrying=True),
        flow.delivered(LER),
    ]
    await store.index.apply(events[:2], [])
    await store.index.apply(events[2:], [])

    steps = await _rows(store, StepRow, StepRow.seq)

    assert [(s["step"], s["endpoint"]) for s in steps] == [
        ("accepted", None),
        ("routed", None),
        ("failed", TAX),
        ("delivered", LER),
    ]
    assert all(s["message"] == flow.id for s in steps)
    details = [json.loads(s["detail"]) for s in steps]
    assert details[0]["via"] == "rest"
    assert details[0]["size"] == 10
    assert details[1]["destinations"][1] == {
        "endpoint": LER,
        "route": ROUTE,
        "adapters": ["samr-to-canonical"],
    }
    assert details[2] == {
        "attempt": 1,
        "error": "HTTP 503: try later",
        "status": 503,
        "retrying": True,
        "route": ROUTE,
        "adapters": [],
    }
    # id, event kind, time and endpoint are columns, not repeated in the detail.
    assert not any({"id", "event", "at", "endpoint"} & d.keys() for d in details)


async def test_a_batch_of_2000_events_applies_in_one_call(store: Store) -> None:
    flows = [Flow(f"bulk-{n}") for n in range(400)]
    events = []
    for flow in flows:
        events += [
            flow.accepted(),
            flow.routed(TAX, LER),
            flow.delivered(TAX),
            flow.delivered(LER),
        ]
    events += [flow.failed(TAX, 1, retrying=True) for flow in flows[:100]]
    events += [flow.delivered(TAX, attempt=2) for flow in flows[:100]]
    events += [flow.accepted() for flow in flows[:200]]  # redelivered by the backbone
    assert len(events) == 2000

    started = time.perf_counter()
    await store.index.apply(events, [])
    elapsed = time.perf_counter() - started
    print(f"{store.engine.dialect.name}: 2000 events applied in {elapsed:.3f} s")  # shown by -s

    assert await store.queries.counts_by_status() == {"delivered": 400}
    assert len(await _rows(store, StepRow)) == 2000
    deliveries = await _rows(store, DeliveryRow)
    assert len(deliveries) == 800
    assert {d["status"] for d in deliveries} == {"delivered"}
    # Generous: a few hundred milliseconds is normal; seconds mean row-by-row statements.
    assert elapsed < 20


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], None),
        (["pending"], "routed"),
        (["pending", "pending"], "routed"),
        (["delivered", "pending"], "delivering"),
        (["delivered", "delivered"], "delivered"),
        (["delivered", "retrying"], "failed"),
        (["failed", "pending"], "routed"),
        (["retrying", "dead_lettered"], "dead_lettered"),
        (["delivered", "dead_lettered"], "dead_lettered"),
    ],
)
def test_message_status_from_its_deliveries(statuses: list[str], expected: str | None) -> None:
    assert message_status(statuses) == expected
