"""How the index writes: one connection, and statuses in memory or by the store alike."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from exchange.records.events import Event
from exchange.store import Store, message_status

from .conftest import Flow
from .test_index import LER, TAX, _deliveries, _message


async def test_the_writer_keeps_one_connection_across_batches(store: Store) -> None:
    """A pool checkout per batch made the pool open and close connections under load."""
    checkouts: list[object] = []
    event.listen(store.engine.sync_engine, "checkout", lambda *args: checkouts.append(args))
    flows = [Flow(f"conn-{n}") for n in range(5)]
    for flow in flows:
        await store.index.apply([flow.accepted()], [])
        await store.index.apply([flow.routed(TAX)], [])
        await store.index.apply([flow.delivered(TAX)], [])

    assert len(checkouts) == 1
    assert await store.queries.counts_by_status() == {"delivered": 5}


_REACH = {
    "pending": [],
    "delivered": ["delivered"],
    "retrying": ["retrying"],
    "failed": ["failed"],
    "dead_lettered": ["dead_lettered"],
}


@pytest.mark.parametrize("split", [False, True], ids=["one-batch", "routed-earlier"])
@pytest.mark.parametrize(
    "statuses",
    [
        ["pending", "pending"],
        ["delivered", "pending"],
        ["delivered", "delivered"],
        ["delivered", "retrying"],
        ["failed", "pending"],
        ["retrying", "dead_lettered"],
        ["delivered", "dead_lettered"],
        ["failed", "delivered"],
    ],
)
async def test_message_status_follows_its_deliveries_in_and_across_batches(
    store: Store, statuses: list[str], split: bool
) -> None:
    """Computed in memory when the batch holds every delivery, by the store otherwise."""
    flow = Flow()
    endpoints = [TAX, LER]
    later: list[Event] = []
    for endpoint, status in zip(endpoints, statuses, strict=True):
        if status == "delivered":
            later.append(flow.delivered(endpoint, attempt=2))
        elif status in ("retrying", "failed"):
            later.append(flow.failed(endpoint, 1, retrying=status == "retrying"))
        elif status == "dead_lettered":
            later += [flow.failed(endpoint, 1, retrying=False), flow.dead_lettered(endpoint)[0]]
    first = [flow.accepted(), flow.routed(*endpoints)]
    for batch in [first, later] if split else [first + later]:
        await store.index.apply(batch, [])

    message = await _message(store, flow)
    assert message["status"] == message_status(statuses)
    deliveries = await _deliveries(store, flow)
    assert [deliveries[e]["status"] for e in endpoints] == statuses
    assert message["updated_at"] == max(d["updated_at"] for d in deliveries.values())
    errors = [
        deliveries[e]["last_error"]
        for e in sorted(endpoints)
        if statuses[endpoints.index(e)] != "delivered"
    ]
    errors = [e for e in errors if e]
    assert message["last_error"] == (errors[-1] if errors else None)
