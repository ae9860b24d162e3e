"""Retention of the embedded log: what every group has committed past goes, by age or by size."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exchange.backbone import EmbeddedBackbone, Record, TopicPartition, open_backbone
from exchange.errors import ConfigError
from exchange.settings import Settings

CHECK_S = 0.05


def positions(path: Path, topic: str) -> list[int]:
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT pos FROM records WHERE topic=? ORDER BY pos", (topic,))
        return [pos for (pos,) in rows.fetchall()]
    finally:
        db.close()


async def wait_for(path: Path, topic: str, wanted: list[int]) -> list[int]:
    for _ in range(100):
        found = positions(path, topic)
        if found == wanted:
            break
        await asyncio.sleep(CHECK_S)
    return found


async def commit(backbone: EmbeddedBackbone, group: str, topic: str, upto: int) -> None:
    """Read ``topic`` in ``group`` from its last commit up to ``upto`` and commit that."""
    consumer = await backbone.consumer(group, [topic])
    got = await consumer.fetch(max_records=upto, timeout=1.0)
    while got[-1].offset + 1 < upto:
        got = await consumer.fetch(max_records=upto - got[-1].offset - 1, timeout=1.0)
    await consumer.commit({TopicPartition(topic): upto})
    await consumer.close()


@pytest.fixture
async def backbones() -> AsyncIterator[list[EmbeddedBackbone]]:
    opened: list[EmbeddedBackbone] = []
    yield opened
    for backbone in opened:
        await backbone.close()


async def open_log(path: Path, opened: list[EmbeddedBackbone], **policy: int) -> EmbeddedBackbone:
    from exchange.backbone.embedded_retention import Retention

    backbone = EmbeddedBackbone(
        path, retention=Retention(**policy), retention_check_seconds=CHECK_S
    )
    await backbone.start()
    opened.append(backbone)
    return backbone


async def test_old_records_every_group_committed_past_are_deleted(
    tmp_path: Path, backbones: list[EmbeddedBackbone]
) -> None:
    path = tmp_path / "log.db"
    backbone = await open_log(path, backbones, ms=100)
    await backbone.publish([Record("t", b"%d" % i) for i in range(6)])
    await backbone.publish([Record("never-read", b"x")] * 3)
    await commit(backbone, "fast", "t", 5)
    await commit(backbone, "slow", "t", 2)
    assert await wait_for(path, "t", [2, 3, 4, 5]) == [2, 3, 4, 5]  # "slow" needs 2 on
    await commit(backbone, "slow", "t", 6)
    # every group is past them all, but the newest record stays: positions go on from it
    assert await wait_for(path, "t", [5]) == [5]
    assert positions(path, "never-read") == [0, 1, 2]  # no group committed: all kept
    await backbone.publish([Record("t", b"next")])
    reader = await backbone.consumer("slow", ["t"])
    assert [(r.offset, r.value) for r in await reader.fetch(timeout=1.0)] == [(6, b"next")]


async def test_young_records_stay_until_their_time(
    tmp_path: Path, backbones: list[EmbeddedBackbone]
) -> None:
    path = tmp_path / "log.db"
    backbone = await open_log(path, backbones, ms=60_000)
    await backbone.publish([Record("t", b"%d" % i) for i in range(4)])
    await commit(backbone, "g", "t", 4)
    await asyncio.sleep(CHECK_S * 6)
    assert positions(path, "t") == [0, 1, 2, 3]


async def test_a_topic_over_its_size_loses_its_oldest_committed_records(
    tmp_path: Path, backbones: list[EmbeddedBackbone]
) -> None:
    path = tmp_path / "log.db"
    backbone = await open_log(path, backbones, bytes=250)
    await backbone.publish([Record("t", b"v" * 100) for _ in range(6)])
    await commit(backbone, "g", "t", 3)
    # 600 bytes: 0, 1 and 2 are committed and go (300 bytes are still over 250, but 3..5
    # are not committed yet)
    assert await wait_for(path, "t", [3, 4, 5]) == [3, 4, 5]
    await commit(backbone, "g", "t", 6)
    assert await wait_for(path, "t", [4, 5]) == [4, 5]


def test_the_settings_reach_the_embedded_backbone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exchange.backbone.embedded_retention import Retention

    default = open_backbone(Settings(home=tmp_path))
    assert isinstance(default, EmbeddedBackbone)
    assert default.retention == Retention(ms=7 * 24 * 3600 * 1000, bytes=-1)
    monkeypatch.setenv("EXCHANGE_RETENTION_MS", "-1")
    monkeypatch.setenv("EXCHANGE_RETENTION_BYTES", "1048576")
    chosen = open_backbone(Settings(home=tmp_path))
    assert isinstance(chosen, EmbeddedBackbone)
    assert chosen.retention == Retention(ms=-1, bytes=1048576)
    with pytest.raises(ConfigError, match="retention_ms"):
        Retention(ms=-2)


async def test_the_wal_file_is_cut_back_after_a_large_transaction(
    tmp_path: Path, backbones: list[EmbeddedBackbone], monkeypatch: pytest.MonkeyPatch
) -> None:
    from exchange.backbone import embedded

    limit = 1024 * 1024
    monkeypatch.setattr(embedded, "WAL_SIZE_LIMIT", limit, raising=False)
    path = tmp_path / "log.db"
    backbone = await open_log(path, backbones)
    await backbone.publish([Record("big", b"x" * limit)] * 8)  # one transaction of 8 MB
    wal = path.with_name(path.name + "-wal")
    assert wal.stat().st_size > 8 * limit
    for _ in range(3):  # the WAL restarts from its start once it has been checkpointed
        await backbone.publish([Record("small", b"y")])
    assert wal.stat().st_size <= limit
