"""The embedded backbone's in-memory positions and recent records, against its SQLite file.

What is kept in memory must never disagree with the file, including when another connection
(another process, here another backbone object on the same file) writes to it too.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exchange.backbone import ConsumedRecord, Consumer, EmbeddedBackbone, OwnershipLost, Record

LEASE_SECONDS = 0.3


class TracedBackbone(EmbeddedBackbone):
    """Records every SQL statement its connections run (writer and readers)."""

    def __init__(self, path: Path, **options: float) -> None:
        super().__init__(path, **options)  # type: ignore[arg-type]
        self.statements: list[str] = []

    def _connect(self) -> sqlite3.Connection:
        db = super()._connect()
        db.set_trace_callback(self.statements.append)
        return db


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "log.db"


@pytest.fixture
async def opened() -> AsyncIterator[list[EmbeddedBackbone]]:
    backbones: list[EmbeddedBackbone] = []
    yield backbones
    for backbone in backbones:
        await backbone.close()


async def start(backbone: EmbeddedBackbone, opened: list[EmbeddedBackbone]) -> EmbeddedBackbone:
    await backbone.start()
    opened.append(backbone)
    return backbone


async def fetch_all(consumer: Consumer, count: int) -> list[ConsumedRecord]:
    got: list[ConsumedRecord] = []
    for _ in range(50):
        if len(got) >= count:
            break
        got += await consumer.fetch(max_records=count - len(got), timeout=0.2)
    return got


async def test_a_group_commit_runs_no_lookup_and_no_savepoint(
    path: Path, opened: list[EmbeddedBackbone]
) -> None:
    backbone = await start(TracedBackbone(path), opened)
    backbone.statements.clear()

    async def message(n: int) -> None:
        await backbone.publish(
            [Record("inbound", b"doc", key="c", dedup_key=f"id-{n}"), Record("events", b"e")]
        )

    await asyncio.gather(*(message(n) for n in range(40)))
    await message(3)  # a republished message: dropped by the insert itself
    written = [s for s in backbone.statements if s.startswith(("SELECT", "SAVEPOINT"))]
    assert written == []
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT topic, COUNT(*), MAX(pos) FROM records GROUP BY topic")
        assert sorted(rows.fetchall()) == [("events", 41, 40), ("inbound", 40, 39)]
    finally:
        db.close()


async def test_a_consumer_close_behind_reads_from_memory(
    path: Path, opened: list[EmbeddedBackbone]
) -> None:
    backbone = await start(TracedBackbone(path), opened)
    consumer = await backbone.consumer("g", ["t"])
    assert await consumer.fetch(timeout=0.05) == []  # takes the lease
    await backbone.publish([Record("t", b"%d" % i, headers={"n": str(i)}) for i in range(5)])
    backbone.statements.clear()
    got = await consumer.fetch(timeout=1.0)
    assert [(r.offset, r.value, dict(r.headers)) for r in got] == [
        (i, b"%d" % i, {"n": str(i)}) for i in range(5)
    ]
    assert [s for s in backbone.statements if "FROM records" in s] == []


async def test_two_writers_on_one_file_share_positions_and_dedup_keys(
    path: Path, opened: list[EmbeddedBackbone]
) -> None:
    a = await start(EmbeddedBackbone(path), opened)
    b = await start(EmbeddedBackbone(path), opened)
    consumer = await a.consumer("g", ["t"])
    for i in range(10):
        await (a if i % 2 else b).publish([Record("t", b"%d" % i, dedup_key=f"k{i}")])
    await a.publish([Record("t", b"again", dedup_key="k0")])  # k0 was written by b
    await b.publish([Record("t", b"again", dedup_key="k1")])  # k1 by a
    await asyncio.gather(
        *(a.publish([Record("t", b"a%d" % i)]) for i in range(30)),
        *(b.publish([Record("t", b"b%d" % i)]) for i in range(30)),
    )
    got = await fetch_all(consumer, 70)
    assert [r.offset for r in got] == list(range(70))
    assert [r.value for r in got[:10]] == [b"%d" % i for i in range(10)]
    assert sorted(r.value for r in got[10:]) == sorted(
        [b"a%d" % i for i in range(30)] + [b"b%d" % i for i in range(30)]
    )
    assert await consumer.fetch(timeout=0.1) == []


async def test_a_fetch_that_does_not_wait_sees_another_connections_write(
    path: Path, opened: list[EmbeddedBackbone]
) -> None:
    a = await start(EmbeddedBackbone(path), opened)
    b = await start(EmbeddedBackbone(path), opened)
    consumer = await a.consumer("g", ["t"])
    await a.publish([Record("t", b"mine")])
    assert [r.value for r in await consumer.fetch(timeout=1.0)] == [b"mine"]
    await b.publish([Record("t", b"theirs")])
    assert [(r.offset, r.value) for r in await consumer.fetch(timeout=0)] == [(1, b"theirs")]
    await a.publish([Record("t", b"mine again")])  # after a hole in what a wrote itself
    assert [(r.offset, r.value) for r in await consumer.fetch(timeout=0)] == [(2, b"mine again")]


async def test_a_refused_commit_in_a_group_commit_leaves_nothing_behind(
    path: Path, opened: list[EmbeddedBackbone]
) -> None:
    backbone = await start(EmbeddedBackbone(path, lease_seconds=LEASE_SECONDS), opened)
    await backbone.publish([Record("in", b"x")])
    late = await backbone.consumer("g", ["in"])
    (record,) = await fetch_all(late, 1)
    await asyncio.sleep(LEASE_SECONDS * 1.3)
    taker = await backbone.consumer("g", ["in"])
    assert len(await fetch_all(taker, 1)) == 1  # the lease moved to the new member
    refused, kept = await asyncio.gather(
        backbone.publish_and_commit(
            [Record("out", b"lost")], late, {record.position: record.offset + 1}
        ),
        backbone.publish([Record("out", b"kept")]),
        return_exceptions=True,
    )
    assert isinstance(refused, OwnershipLost) and kept is None
    await backbone.publish([Record("out", b"next")])
    reader = await backbone.consumer("r", ["out"])
    got = await fetch_all(reader, 2)
    assert [(r.offset, r.value) for r in got] == [(0, b"kept"), (1, b"next")]


async def test_a_failed_group_commit_gives_its_positions_back(
    path: Path, opened: list[EmbeddedBackbone]
) -> None:
    backbone = await start(EmbeddedBackbone(path), opened)
    with pytest.raises(UnicodeEncodeError):  # SQLite cannot store a lone surrogate
        await backbone.publish([Record("t", b"ok"), Record("t", b"bad", key="\ud800")])
    await backbone.publish([Record("t", b"first")])
    consumer = await backbone.consumer("g", ["t"])
    assert [(r.offset, r.value) for r in await fetch_all(consumer, 1)] == [(0, b"first")]


async def test_positions_go_on_after_a_reopen(path: Path, opened: list[EmbeddedBackbone]) -> None:
    first = await start(EmbeddedBackbone(path), opened)
    await first.publish([Record(topic, b"1") for topic in ("a", "b", "b", "c")])
    await first.close()
    again = await start(EmbeddedBackbone(path), opened)
    await again.publish([Record(topic, b"2") for topic in ("a", "b", "c", "d")])
    consumer = await again.consumer("g", ["a", "b", "c", "d"])
    got = await fetch_all(consumer, 8)
    assert sorted((r.topic, r.offset, r.value) for r in got) == [
        ("a", 0, b"1"),
        ("a", 1, b"2"),
        ("b", 0, b"1"),
        ("b", 1, b"1"),
        ("b", 2, b"2"),
        ("c", 0, b"1"),
        ("c", 1, b"2"),
        ("d", 0, b"2"),
    ]


def test_recent_records_keep_a_bounded_run_of_consecutive_positions() -> None:
    from exchange.backbone.embedded_memory import RecentRecords

    recent = RecentRecords(max_records=8, max_bytes=100)
    for pos in range(9):
        recent.add("t", (pos, None, b"v", {}, 1.0))
    assert recent.read("t", 0, 10) is None  # trimmed to the newest three quarters
    held = recent.read("t", 3, 10)
    assert held is not None and [r.offset for r in held] == list(range(3, 9))
    assert recent.read("t", 9, 10) is None  # not written yet
    recent.add("t", (20, None, b"v", {}, 1.0))  # another writer wrote 9..19
    assert recent.read("t", 8, 10) is None
    held = recent.read("t", 20, 10)
    assert held is not None and [r.offset for r in held] == [20]
    for pos in range(21, 24):
        recent.add("t", (pos, None, b"x" * 40, {}, 1.0))
    # over 100 bytes: the oldest went, down to 75 bytes or less
    assert recent.read("t", 22, 10) is None
    held = recent.read("t", 23, 10)
    assert held is not None and [r.offset for r in held] == [23]
