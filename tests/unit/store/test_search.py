"""The console's message search: every filter, newest first, keyset paging, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from exchange.envelope import Envelope
from exchange.records.events import Accepted, Delivered, Destination, Event, Rejected, Routed
from exchange.store import Store
from exchange.store import search as search_module
from exchange.store.search import BadSearch, SearchFilter

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
TAX, LER, SOCIAL = "tax-bureau", "legal-entity-registry", "social-security"


def _envelope(n: int, sender: str, message_type: str, correlation: str) -> Envelope:
    return Envelope.new(
        sender=sender,
        message_type=message_type,
        message_id=f"order-{n}",
        correlation_id=correlation,
        schema_version="1.0",
    )


def _message(
    n: int,
    *,
    sender: str = "samr-reg",
    message_type: str = "samr.EnterpriseRegistration",
    correlation: str = "case-a",
    endpoints: tuple[str, ...] = (TAX, LER),
    delivered: tuple[str, ...] = (),
    rejected: bool = False,
) -> tuple[str, list[Event]]:
    """Message ``n``, received at T0 + n minutes, and its events."""
    envelope = _envelope(n, sender, message_type, correlation)
    at = T0 + timedelta(minutes=n)
    if rejected:
        return envelope.id, [
            Rejected(id=envelope.id, at=at, **_arrival(envelope), size=9, status=422, reason="x")
        ]
    events: list[Event] = [
        Accepted(id=envelope.id, at=at, **_arrival(envelope), size=100, via="rest"),
        Routed(
            id=envelope.id,
            at=at + timedelta(seconds=1),
            destinations=tuple(Destination(endpoint=e, route="r") for e in endpoints),
        ),
    ]
    for endpoint in delivered:
        events.append(
            Delivered(
                id=envelope.id,
                at=at + timedelta(seconds=2),
                attempt=1,
                status=200,
                elapsed_ms=3.0,
                endpoint=endpoint,
                route="r",
                adapters=(),
            )
        )
    return envelope.id, events


def _arrival(envelope: Envelope) -> dict[str, str | None]:
    return {
        "sender": envelope.sender,
        "message_id": envelope.message_id,
        "correlation_id": envelope.correlation_id,
        "message_type": envelope.message_type,
        "schema_version": envelope.schema_version,
    }


@pytest.fixture
async def filled(store: Store) -> dict[str, str]:
    """Eight messages of various kinds; message id -> hub id."""
    plan = [
        _message(1, delivered=(TAX, LER)),
        _message(2, correlation="case-b", endpoints=(TAX, SOCIAL)),
        _message(3, sender="legal-entity-registry", message_type="canonical.LegalEntity",
                 endpoints=(TAX,), delivered=(TAX,)),
        _message(4, rejected=True),
        _message(5, correlation="case-b", endpoints=(SOCIAL,), delivered=(SOCIAL,)),
        _message(6, delivered=(TAX, LER)),
        _message(7, endpoints=(LER,)),
        _message(8, delivered=(TAX, LER)),
    ]  # fmt: skip
    for _, events in plan:
        await store.index.apply(events, [])
    return {f"order-{n}": hub_id for n, (hub_id, _) in enumerate(plan, start=1)}


async def _ids(store: Store, where: SearchFilter, limit: int = 50) -> list[str]:
    page = await store.search.search(where, limit=limit)
    return [row["message_id"] for row in page.messages]


async def test_no_filter_lists_every_message_newest_first(
    store: Store, filled: dict[str, str]
) -> None:
    page = await store.search.search(SearchFilter())
    assert [row["message_id"] for row in page.messages] == [f"order-{n}" for n in range(8, 0, -1)]
    assert page.next_cursor is None
    first = page.messages[0]
    assert set(first) == {
        "id",
        "message_id",
        "correlation_id",
        "sender",
        "message_type",
        "status",
        "received_at",
        "updated_at",
        "endpoints",
    }
    assert first["id"] == filled["order-8"]
    assert first["status"] == "delivered"
    assert first["endpoints"] == [LER, TAX]
    assert datetime.fromisoformat(first["received_at"]) == T0 + timedelta(minutes=8)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (SearchFilter(message_id="order-3"), ["order-3"]),
        (SearchFilter(correlation_id="case-b"), ["order-5", "order-2"]),
        (SearchFilter(sender="legal-entity-registry"), ["order-3"]),
        (SearchFilter(message_type="canonical.LegalEntity"), ["order-3"]),
        (SearchFilter(endpoint=SOCIAL), ["order-5", "order-2"]),
        (SearchFilter(endpoint=LER), ["order-8", "order-7", "order-6", "order-1"]),
        (SearchFilter(status="rejected"), ["order-4"]),
        (SearchFilter(status="routed"), ["order-7", "order-2"]),
        (SearchFilter(status="delivered", endpoint=TAX), ["order-8", "order-6", "order-3",
                                                          "order-1"]),
        (SearchFilter(since=T0 + timedelta(minutes=6)), ["order-8", "order-7", "order-6"]),
        (SearchFilter(until=T0 + timedelta(minutes=2)), ["order-1"]),
        (
            SearchFilter(since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=5),
                         sender="samr-reg"),
            ["order-4", "order-2"],
        ),
        (SearchFilter(message_id="order-3", sender="samr-reg"), []),
        (SearchFilter(endpoint="no-such-endpoint"), []),
    ],
)  # fmt: skip
async def test_each_filter_finds_exactly_its_messages(
    store: Store, filled: dict[str, str], where: SearchFilter, expected: list[str]
) -> None:
    assert await _ids(store, where) == expected


async def test_a_hub_id_finds_its_message(store: Store, filled: dict[str, str]) -> None:
    assert await _ids(store, SearchFilter(id=filled["order-6"])) == ["order-6"]


async def test_a_receiver_with_many_deliveries_is_searched_the_other_way_alike(
    store: Store, filled: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    few = await _ids(store, SearchFilter(endpoint=LER, status="delivered"))
    monkeypatch.setattr(search_module, "FEW_DELIVERIES", 1)  # every endpoint has "many"
    many = await _ids(store, SearchFilter(endpoint=LER, status="delivered"))
    assert few == many == ["order-8", "order-6", "order-1"]


async def test_pages_follow_each_other_without_gaps_or_repeats(
    store: Store, filled: dict[str, str]
) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await store.search.search(SearchFilter(), limit=3, cursor=cursor)
        seen += [row["message_id"] for row in page.messages]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        if pages == 1:
            # A message arriving while someone pages does not shift the pages after.
            _, events = _message(9, delivered=(TAX,))
            await store.index.apply(events, [])
    assert pages == 3
    assert seen == [f"order-{n}" for n in range(8, 0, -1)]


async def test_messages_received_at_the_same_instant_page_by_id(store: Store) -> None:
    ids = []
    for n in range(5):
        envelope = _envelope(n, "samr-reg", "samr.EnterpriseRegistration", "same")
        await store.index.apply(
            [Accepted(id=envelope.id, at=T0, **_arrival(envelope), size=1, via="rest")], []
        )
        ids.append(envelope.id)
    first = await store.search.search(SearchFilter(), limit=2)
    second = await store.search.search(SearchFilter(), limit=2, cursor=first.next_cursor)
    third = await store.search.search(SearchFilter(), limit=2, cursor=second.next_cursor)
    listed = [row["id"] for page in (first, second, third) for row in page.messages]
    assert listed == sorted(ids, reverse=True)
    assert third.next_cursor is None


async def test_a_cursor_it_did_not_hand_out_is_refused(store: Store) -> None:
    with pytest.raises(BadSearch, match="next_cursor"):
        await store.search.search(SearchFilter(), cursor="not-a-cursor")
    with pytest.raises(BadSearch, match="1 to 200"):
        await store.search.search(SearchFilter(), limit=0)


@pytest.mark.parametrize(
    ("where", "index", "in_order"),
    [
        (SearchFilter(sender="a"), "ix_messages_sender_received_at", True),
        (SearchFilter(message_type="a"), "ix_messages_type_received_at", True),
        (SearchFilter(status="delivered"), "ix_messages_status_received_at", True),
        (SearchFilter(), "ix_messages_received_at", True),
        # A sender's message id is one message per sender: the few are sorted.
        (SearchFilter(message_id="a"), "ix_messages_message_id", False),
    ],
)
async def test_sqlite_reads_each_search_from_an_index_newest_first(
    tmp_path: Path, where: SearchFilter, index: str, in_order: bool
) -> None:
    """A page must not read (or sort) every message of a filter: on 1,000,000 messages that
    is seconds where the index answers in milliseconds (PostgreSQL plans by statistics)."""
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'plan.db'}")
    await store.start()
    try:
        query = search_module._query(where, None, 51, from_deliveries=False)
        sql = str(query.compile(store.engine, compile_kwargs={"literal_binds": True}))
        async with store.engine.connect() as connection:
            rows = await connection.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
            plan = " | ".join(str(row[-1]) for row in rows)
    finally:
        await store.close()
    assert index in plan, plan
    # In order: read newest first from the index, never all sorted first.
    assert ("USE TEMP B-TREE FOR ORDER BY" not in plan) is in_order, plan


SEARCH_INDEXES = {
    "messages": {
        "ix_messages_sender_received_at",
        "ix_messages_type_received_at",
        "ix_messages_status_received_at",
        "ix_messages_message_id",
    },
    "deliveries": {"ix_deliveries_endpoint_message"},
}


async def test_a_store_made_before_the_search_gets_its_indexes_at_start(
    store: Store, filled: dict[str, str]
) -> None:
    async with store.engine.begin() as connection:
        for names in SEARCH_INDEXES.values():
            for name in names:
                await connection.execute(text(f"DROP INDEX {name}"))

    await store.start()

    def present(connection: Any) -> dict[str, set[str]]:
        found = inspect(connection)
        return {
            table: {str(i["name"]) for i in found.get_indexes(table)} for table in SEARCH_INDEXES
        }

    async with store.engine.connect() as connection:
        indexes = await connection.run_sync(present)
    for table, names in SEARCH_INDEXES.items():
        assert names <= indexes[table], table
    assert await _ids(store, SearchFilter(message_id="order-3")) == ["order-3"]
