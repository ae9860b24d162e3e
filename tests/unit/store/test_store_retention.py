"""Store retention deletes finished messages older than the retention, and nothing else
(SQLite and PostgreSQL).

Before, the store kept every message, its trace and its deliveries for ever.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text, update

from exchange.errors import ConfigError
from exchange.settings import load_settings
from exchange.store import IndexFailure, Store, StoreRetention, Swept
from exchange.store.db import create_engine
from exchange.store.models import (
    DeadLetterRow,
    DeliveryRow,
    IndexFailureRow,
    MessageRow,
    StepRow,
)
from exchange.store.retention import _old_final_messages

from .conftest import Flow

TAX = "tax-bureau"
LER = "legal-entity-registry"
DAY_MS = 24 * 3600 * 1000
RETENTION_MS = 90 * DAY_MS
OLD = datetime.now(UTC) - timedelta(days=100)


async def age(store: Store, *flows: Flow, at: datetime = OLD) -> None:
    """Everything the store holds of these messages as if it had happened at ``at``."""
    ids = [f.id for f in flows]
    async with store.engine.begin() as conn:
        await conn.execute(
            update(MessageRow).where(MessageRow.id.in_(ids)).values(received_at=at, updated_at=at)
        )
        await conn.execute(update(StepRow).where(StepRow.message.in_(ids)).values(at=at))
        await conn.execute(
            update(DeliveryRow).where(DeliveryRow.message.in_(ids)).values(updated_at=at)
        )
        await conn.execute(
            update(DeadLetterRow).where(DeadLetterRow.message.in_(ids)).values(created_at=at)
        )


async def rows(store: Store, model: type[Any], message: str) -> int:
    column = model.message if model is not MessageRow else model.id
    async with store.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).where(column == message)) or 0)


async def count(store: Store, model: type[Any]) -> int:
    async with store.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(model)) or 0)


async def set_replayed_at(store: Store, dead_letter: str, at: datetime) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(
            update(DeadLetterRow)
            .where(DeadLetterRow.id == dead_letter)
            .values(replayed_at=at, replay_count=1)
        )


async def test_old_finished_messages_go_with_their_trail_and_the_rest_stays(
    store: Store,
) -> None:
    delivered, rejected = Flow("old-delivered"), Flow("old-rejected")
    in_flight, routed, recent = Flow("old-retrying"), Flow("old-routed"), Flow("recent")
    waiting, replayed = Flow("old-dead-lettered"), Flow("old-replayed-then-delivered")
    # Delivered in the end, but a dead letter of it was never marked replayed.
    unmarked = Flow("old-delivered-unmarked-dead-letter")
    dead_waiting_event, dead_waiting = waiting.dead_lettered(TAX)
    dead_replayed_event, dead_replayed = replayed.dead_lettered(TAX)
    dead_unmarked_event, dead_unmarked = unmarked.dead_lettered(TAX)
    old_events = [
        delivered.accepted(),
        delivered.routed(TAX, LER),
        delivered.delivered(TAX),
        delivered.delivered(LER),
        rejected.rejected(),
        in_flight.accepted(),
        in_flight.routed(TAX),
        in_flight.failed(TAX, 1, retrying=True),
        routed.accepted(),
        routed.routed(TAX),
        waiting.accepted(),
        waiting.routed(TAX),
        dead_waiting_event,
        replayed.accepted(),
        replayed.routed(TAX),
        dead_replayed_event,
        replayed.replayed(dead_replayed),
        replayed.delivered(TAX, attempt=1),
        unmarked.accepted(),
        unmarked.routed(TAX),
        dead_unmarked_event,
        unmarked.replayed(dead_unmarked),
        unmarked.delivered(TAX),
    ]
    await store.index.apply(old_events, [dead_waiting, dead_replayed, dead_unmarked])
    await age(store, delivered, rejected, in_flight, routed, waiting, replayed, unmarked)
    await store.index.apply([recent.accepted(), recent.routed(TAX), recent.delivered(TAX)], [])
    await set_replayed_at(store, dead_replayed.id, OLD + timedelta(hours=1))
    # A replayed dead letter whose message is in flight again: the dead letter goes alone.
    again = Flow("old-replayed-in-flight")
    dead_again_event, dead_again = again.dead_lettered(TAX)
    await store.index.apply([again.accepted(), again.routed(TAX), dead_again_event], [dead_again])
    await age(store, again)
    await store.index.apply([again.replayed(dead_again)], [])
    await set_replayed_at(store, dead_again.id, OLD + timedelta(hours=2))
    statuses = {
        f.id: (await store.queries.message_summaries([f.id]))[f.id]["status"]
        for f in (delivered, rejected, in_flight, routed, waiting, replayed, unmarked, again)
    }
    assert statuses == {
        delivered.id: "delivered",
        rejected.id: "rejected",
        in_flight.id: "failed",
        routed.id: "routed",
        waiting.id: "dead_lettered",
        replayed.id: "delivered",
        unmarked.id: "delivered",
        again.id: "routed",
    }

    swept = await StoreRetention(store.engine, RETENTION_MS).sweep()

    for gone in (delivered, rejected, replayed):
        assert await store.queries.message(gone.id) is None, gone.envelope.message_id
        for model in (StepRow, DeliveryRow, DeadLetterRow):
            assert await rows(store, model, gone.id) == 0, (gone.envelope.message_id, model)
    for kept in (in_flight, routed, recent, waiting, unmarked, again):
        message = await store.queries.message(kept.id)
        assert message is not None, kept.envelope.message_id
        assert message["trace"] and message["deliveries"], kept.envelope.message_id
    assert await store.queries.dead_letter(dead_waiting.id) is not None
    assert await store.queries.dead_letter(dead_unmarked.id) is not None
    assert await store.queries.dead_letter(dead_replayed.id) is None
    assert await store.queries.dead_letter(dead_again.id) is None
    # delivered: 4 steps, 2 deliveries; rejected: 1 step; replayed: 5 steps, 1 delivery
    assert swept == Swept(messages=3, steps=10, deliveries=3, dead_letters=2, index_failures=0)

    assert (await StoreRetention(store.engine, RETENTION_MS).sweep()).total == 0


async def test_index_failures_older_than_the_retention_go(store: Store) -> None:
    failure = IndexFailure(
        topic="events", partition=0, offset=7, message=None, error="bad", value=b"{"
    )
    await store.index.set_aside([failure, dataclasses.replace(failure, offset=8)])
    async with store.engine.begin() as conn:
        await conn.execute(
            update(IndexFailureRow).where(IndexFailureRow.offset == 7).values(at=OLD)
        )

    swept = await StoreRetention(store.engine, RETENTION_MS).sweep()

    assert swept.index_failures == 1
    async with store.engine.connect() as conn:
        assert list(await conn.scalars(select(IndexFailureRow.offset))) == [8]


async def test_a_pass_deletes_in_batches_smaller_than_the_set(store: Store) -> None:
    flows = [Flow(f"old-{n}") for n in range(25)]
    await store.index.apply(
        [e for f in flows for e in (f.accepted(), f.routed(TAX), f.delivered(TAX))], []
    )
    await age(store, *flows)
    batches: list[int] = []  # steps deleted by each statement
    commits: list[None] = []

    def deleted(conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("DELETE FROM steps"):
            batches.append(cursor.rowcount)

    engine = store.engine.sync_engine
    event.listen(engine, "after_cursor_execute", deleted)
    event.listen(engine, "commit", lambda _conn: commits.append(None))
    try:
        swept = await StoreRetention(store.engine, RETENTION_MS, batch=4).sweep()
    finally:
        event.remove(engine, "after_cursor_execute", deleted)

    assert swept.messages == 25 and swept.steps == 75 and swept.deliveries == 25
    assert await count(store, MessageRow) == 0
    assert await count(store, StepRow) == 0
    assert await count(store, DeliveryRow) == 0
    # 4 messages (3 steps each) at most per statement: 6 full batches, then one of 1 ...
    assert batches == [12] * 6 + [3]
    # ... each in a transaction of its own
    assert len(commits) >= len(batches)


async def test_a_stopping_pass_ends_between_batches(store: Store) -> None:
    flows = [Flow(f"old-{n}") for n in range(10)]
    await store.index.apply([f.rejected() for f in flows], [])
    await age(store, *flows)
    stop = asyncio.Event()
    stop.set()

    swept = await StoreRetention(store.engine, RETENTION_MS, batch=3).sweep(stop=stop)

    assert swept.total == 0
    assert await count(store, MessageRow) == 10


async def test_the_stage_passes_soon_after_start_and_logs_what_it_deleted(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    old, recent = Flow("old"), Flow("recent")
    await store.index.apply([old.rejected(), recent.rejected()], [])
    await age(store, old)
    stop = asyncio.Event()
    retention = StoreRetention(store.engine, RETENTION_MS, first_pass=0.01, interval=0.05)
    caplog.set_level(logging.INFO, logger="exchange.store.retention")
    task = asyncio.create_task(retention.run(stop))
    try:
        for _ in range(200):
            if await store.queries.message(old.id) is None:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # a few more passes, which find nothing
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)

    assert await store.queries.message(old.id) is None
    assert await store.queries.message(recent.id) is not None
    said = [r.getMessage() for r in caplog.records if r.name == "exchange.store.retention"]
    assert len(said) == 1, said  # only the pass that deleted something speaks
    assert "deleted 1 finished message(s) with 1 step(s)" in said[0]
    assert "older than 90 day(s)" in said[0]


async def test_a_negative_retention_is_refused_with_what_to_do(store: Store) -> None:
    with pytest.raises(ConfigError, match="-1 keeps everything"):
        StoreRetention(store.engine, -1)


async def test_a_pass_reads_the_old_finished_messages_through_an_index(tmp_path: Path) -> None:
    """On SQLite, whose plan does not depend on statistics: the status and time index, not
    every delivered message."""
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    try:
        await store.start()
        statement = _old_final_messages("delivered", datetime.now(UTC), 1000)
        sql = str(statement.compile(store.engine, compile_kwargs={"literal_binds": True}))
        async with store.engine.connect() as conn:
            plan = [str(row[-1]) for row in await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
    finally:
        await store.close()
    assert any(
        "ix_messages_status_updated_at (status=? AND updated_at<?)" in step for step in plan
    ), plan
    assert not any(step.startswith("SCAN") for step in plan), plan


def test_the_setting_defaults_to_90_days_and_refuses_below_minus_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings(home=tmp_path).store_retention_ms == 90 * DAY_MS
    monkeypatch.setenv("EXCHANGE_STORE_RETENTION_MS", "-1")
    assert load_settings(home=tmp_path).store_retention_ms == -1
    monkeypatch.setenv("EXCHANGE_STORE_RETENTION_MS", "-2")
    with pytest.raises(ConfigError, match=r"EXCHANGE_STORE_RETENTION_MS: .*-1"):
        load_settings(home=tmp_path)


async def test_a_store_it_cannot_reach_is_tried_again_at_the_next_pass(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'no-such-folder' / 'store.db'}")
    retention = StoreRetention(engine, RETENTION_MS, first_pass=0.01, interval=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(retention.run(stop))
    try:
        await asyncio.sleep(0.3)
        assert not task.done()  # still there for the next pass, not ended by the failure
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        await engine.dispose()
    failed = [r for r in caplog.records if "store retention: a pass failed" in r.getMessage()]
    assert len(failed) >= 2 and all(r.levelno == logging.WARNING for r in failed)
    assert "trying again in 0.05 s" in failed[0].getMessage()
