"""A store made by an earlier version gets the indexes added since (SQLite and PostgreSQL).

``create_all`` skips tables that exist, indexes and all: without this, a store created before
``ix_messages_status_updated_at`` would never get it and each retention pass would read every
delivered message.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import inspect, text

from exchange.store import Store

from .conftest import Flow

ADDED = "ix_messages_status_updated_at"


async def index_names(store: Store) -> set[str]:
    def read(conn: Any) -> set[str]:
        return {str(ix["name"]) for ix in inspect(conn).get_indexes("messages")}

    async with store.engine.connect() as conn:
        return await conn.run_sync(read)


async def test_starting_on_an_older_store_adds_the_missing_index(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    flow = Flow("kept")
    await store.index.apply([flow.rejected()], [])
    async with store.engine.begin() as conn:
        await conn.execute(text(f"DROP INDEX {ADDED}"))
    assert ADDED not in await index_names(store)
    caplog.set_level(logging.INFO, logger="exchange.store.db")

    await store.start()

    assert ADDED in await index_names(store)
    assert await store.queries.message(flow.id) is not None
    said = [r.getMessage() for r in caplog.records if r.name == "exchange.store.db"]
    assert said == [
        f"adding index {ADDED} to the store's messages table (once; on a large "
        "store this takes a while)"
    ]

    caplog.clear()
    await store.start()  # nothing missing now: nothing to do, nothing said
    assert [r for r in caplog.records if r.name == "exchange.store.db"] == []
