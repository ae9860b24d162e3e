"""What /healthz reads: the messages in flight by status, and the records set aside
(SQLite and PostgreSQL).

Before, it counted every message of the store by status, a read that grew with the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import text

from exchange.store import IN_FLIGHT, IndexFailure, Store
from exchange.store.health import BACKLOG

from .conftest import Flow

TAX = "tax-bureau"


async def test_only_messages_in_flight_are_counted_each_status_always_present(
    store: Store,
) -> None:
    empty = await store.health.read()
    assert empty.messages == {"accepted": 0, "routed": 0, "delivering": 0, "failed": 0}
    assert empty.index_failures == 0

    flows = [Flow(f"m{n}") for n in range(8)]
    events = [f.accepted() for f in flows[:7]] + [flows[7].rejected()]
    events += [f.routed(TAX, "legal-entity-registry") for f in flows[1:7]]
    events += [f.delivered(TAX) for f in flows[2:7]]
    events += [f.delivered("legal-entity-registry") for f in flows[3:6]]
    events.append(flows[6].failed("legal-entity-registry", 1, retrying=True))
    dead_event, dead = flows[5].dead_lettered("legal-entity-registry")
    events.append(dead_event)
    await store.index.apply(events, [dead])
    await store.index.set_aside(
        [IndexFailure(topic="events", partition=0, offset=1, message=None, error="x", value=b"")]
    )

    reading = await store.health.read()

    # m0 accepted; m1 routed; m2 delivering; m3, m4 delivered; m5 dead-lettered; m6 failed;
    # m7 rejected: the finished and dead-lettered ones are not counted.
    assert reading.messages == {"accepted": 1, "routed": 1, "delivering": 1, "failed": 1}
    assert list(reading.messages) == list(IN_FLIGHT)
    assert reading.index_failures == 1


async def test_the_backlog_is_read_through_the_status_index(tmp_path: Path) -> None:
    """On SQLite, whose plan does not depend on statistics: a search of the index for each
    in-flight status, never a scan of the table."""
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    try:
        await store.start()
        sql = str(BACKLOG.compile(store.engine, compile_kwargs={"literal_binds": True}))
        async with store.engine.connect() as conn:
            plan: list[Any] = list(await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
    finally:
        await store.close()
    details = " ".join(str(row[-1]) for row in plan)
    assert "SEARCH messages USING COVERING INDEX ix_messages_status" in details, details
    assert "SCAN" not in details, details
