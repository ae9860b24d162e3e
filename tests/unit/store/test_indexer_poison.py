"""The indexer sets aside a record the store refuses and indexes the rest (SQLite and PostgreSQL).

Before, one such record was retried every second for ever and every later message's
status went stale behind it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from exchange.backbone import EmbeddedBackbone, Record
from exchange.backbone.topics import EVENTS
from exchange.pipeline.events import publishable
from exchange.pipeline.indexer import IndexWriter
from exchange.records.events import Event, encode
from exchange.store import Store
from exchange.store.models import IndexFailureRow
from tests.unit.store.conftest import Flow


@pytest.fixture
async def backbone(tmp_path: Path) -> AsyncIterator[EmbeddedBackbone]:
    log = EmbeddedBackbone(tmp_path / "log.db")
    await log.start()
    try:
        yield log
    finally:
        await log.close()


def _event(event: Event | dict[str, Any]) -> Record:
    """An event's record; or a record of what an event's JSON might hold."""
    if isinstance(event, Event):
        return publishable(event)
    return Record(topic=EVENTS, value=json.dumps(event).encode(), key=event.get("id"))


async def _until(check: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {timeout} s")
        await asyncio.sleep(0.05)


async def _index_while(store: Store, backbone: EmbeddedBackbone, check: Callable[[], Any]) -> None:
    stop = asyncio.Event()
    writer = asyncio.create_task(IndexWriter(backbone, store).run(stop))
    try:
        await _until(check)
    finally:
        stop.set()
        await asyncio.wait_for(writer, timeout=10)


async def test_a_record_the_store_refuses_is_set_aside_and_later_ones_are_indexed(
    store: Store, backbone: EmbeddedBackbone, caplog: pytest.LogCaptureFixture
) -> None:
    before, poison, after = Flow("before"), Flow("too-long"), Flow("after")
    too_long = json.loads(encode(poison.accepted()))
    # Wider than the column (VARCHAR(200)): PostgreSQL refuses the row, SQLite would not,
    # so the SQLite run gets a row that fails on both: a required field missing.
    too_long["message_id"] = "x" * 250
    if store.engine.dialect.name == "sqlite":
        del too_long["sender"]
    await backbone.publish([_event(before.accepted())])
    await backbone.publish([_event(too_long), _event(poison.routed("tax-bureau"))])
    await backbone.publish([_event(after.accepted()), _event(after.routed("tax-bureau"))])

    async def indexed() -> bool:
        return await store.queries.message(after.id) is not None

    await _index_while(store, backbone, indexed)

    assert (await store.queries.message(before.id) or {})["status"] == "accepted"
    assert (await store.queries.message(after.id) or {})["status"] == "routed"
    assert await store.queries.message(poison.id) is None
    assert await store.queries.index_failures() == 1
    async with store.engine.connect() as conn:
        (row,) = (await conn.execute(select(IndexFailureRow))).all()
    assert row.message == poison.id
    assert row.topic == EVENTS
    assert json.loads(row.value)["message_id"] == "x" * 250
    assert row.error
    refused = [r for r in caplog.records if r.levelname == "ERROR" and "set aside" in r.message]
    assert len(refused) == 1 and poison.id in refused[0].message


async def test_an_unreadable_record_is_set_aside(store: Store, backbone: EmbeddedBackbone) -> None:
    flow = Flow("fine")
    await backbone.publish(
        [
            Record(topic=EVENTS, value=b"{not json", key="garbage"),
            Record(topic=EVENTS, value=b"[1, 2]", key="a-list"),
            _event(flow.accepted()),
        ]
    )

    async def indexed() -> bool:
        return await store.queries.message(flow.id) is not None

    await _index_while(store, backbone, indexed)

    assert await store.queries.index_failures() == 2


async def test_a_store_that_is_down_keeps_the_records_until_it_is_back(
    tmp_path: Path, backbone: EmbeddedBackbone, caplog: pytest.LogCaptureFixture
) -> None:
    # A store whose folder cannot be written: every write fails as an outage, nothing is
    # set aside, and once the folder is there again the same records are indexed.
    folder = tmp_path / "later"
    store = Store(f"sqlite+aiosqlite:///{folder / 'store.db'}")
    flows = [Flow(f"m{n}") for n in range(3)]
    await backbone.publish([_event(f.accepted()) for f in flows])
    stop = asyncio.Event()
    writer = asyncio.create_task(IndexWriter(backbone, store).run(stop))
    try:
        await _until(lambda: _logged(caplog, "cannot write to the store"))
        folder.mkdir()
        await store.start()

        async def indexed() -> bool:
            return all([await store.queries.message(f.id) is not None for f in flows])

        await _until(indexed)
        assert await store.queries.index_failures() == 0
    finally:
        stop.set()
        await asyncio.wait_for(writer, timeout=10)
        await store.close()


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in r.getMessage() for r in caplog.records)
