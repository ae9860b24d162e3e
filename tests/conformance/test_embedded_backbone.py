"""The embedded (SQLite) backbone against the shared backbone suite, plus what only it has."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from exchange.backbone import (
    Backbone,
    Consumer,
    EmbeddedBackbone,
    KafkaBackbone,
    Record,
    TopicPartition,
    open_backbone,
)
from exchange.backbone.embedded import EmbeddedConsumer
from exchange.errors import BackboneError, ConfigError
from exchange.settings import Settings
from tests.conformance.backbone_suite import BackboneSuite

LEASE_SECONDS = 0.4


def child_backbone(path: str) -> Backbone:
    """Builds the backbone of the suite's child processes."""
    return EmbeddedBackbone(Path(path), lease_seconds=LEASE_SECONDS)


class TestEmbeddedBackbone(BackboneSuite):
    takeover_timeout = 5.0
    child_factory = "tests.conformance.test_embedded_backbone:child_backbone"

    @pytest.fixture(autouse=True)
    def _log_file(self, tmp_path: Path) -> None:
        self.path = tmp_path / "var" / "backbone.db"

    async def make_backbone(self) -> Backbone:
        backbone = EmbeddedBackbone(self.path, lease_seconds=LEASE_SECONDS)
        await backbone.start()
        return backbone

    async def crash(self, consumer: Consumer) -> None:
        assert isinstance(consumer, EmbeddedConsumer)
        consumer._abandon()
        await asyncio.sleep(LEASE_SECONDS)

    async def lose_ownership(self, consumer: Consumer) -> None:
        await asyncio.sleep(LEASE_SECONDS * 1.2)

    def child_argument(self) -> str:
        return str(self.path)

    # -- only the embedded backbone ----------------------------------------------------------

    async def test_declares_every_capability(self) -> None:
        caps = EmbeddedBackbone.capabilities
        assert (caps.transactional, caps.deduplicates_publish, caps.multi_process_groups) == (
            True,
            True,
            True,
        )

    async def test_offsets_count_from_zero_per_topic(self) -> None:
        backbone = await self.open()
        await backbone.publish([Record("a", b"1"), Record("b", b"1"), Record("a", b"2")])
        consumer = await backbone.consumer("g", ["a", "b"])
        got = await self.fetch_until(consumer, 3)
        assert sorted((r.topic, r.offset) for r in got) == [("a", 0), ("a", 1), ("b", 0)]

    async def test_creates_the_folder_and_uses_wal(self) -> None:
        assert not self.path.parent.exists()
        await self.open()
        db = sqlite3.connect(self.path)
        try:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            db.close()

    async def test_standby_in_the_same_process_waits_for_the_lease(self) -> None:
        backbone = await self.open()
        await backbone.publish([Record("t", b"x")])
        owner = await backbone.consumer("g", ["t"])
        assert len(await self.fetch_until(owner, 1)) == 1
        standby = await backbone.consumer("g", ["t"])
        # the owner keeps its lease by fetching: the standby stays idle past the lease time
        for _ in range(4):
            assert await owner.fetch(timeout=LEASE_SECONDS / 2) == []
            assert await standby.fetch(timeout=0.01) == []
        await owner.close()
        assert len(await standby.fetch(timeout=1.0)) == 1

    async def test_fetch_wakes_on_a_write_through_another_connection(self) -> None:
        # a second backbone object on the same file shares nothing in memory with the first,
        # like another process: the waiting fetch must notice the write by polling the file
        # (a long lease, so that no lease renewal wakes the fetch instead)
        backbone, other = EmbeddedBackbone(self.path), EmbeddedBackbone(self.path)
        for each in (backbone, other):
            await each.start()
            self._opened.append(each)
        consumer = await backbone.consumer("g", ["t"])
        assert await consumer.fetch(timeout=0.05) == []
        loop = asyncio.get_running_loop()

        async def later() -> None:
            await asyncio.sleep(0.2)
            await other.publish([Record("t", b"from elsewhere")])

        task = asyncio.create_task(later())
        started = loop.time()
        got = await consumer.fetch(timeout=3.0)
        await task
        assert [r.value for r in got] == [b"from elsewhere"]
        assert loop.time() - started < 1.0

    async def test_commit_of_a_topic_not_consumed_is_refused(self) -> None:
        backbone = await self.open()
        consumer = await backbone.consumer("g", ["t"])
        with pytest.raises(BackboneError, match="partition 0 of t"):
            await consumer.commit({TopicPartition("other"): 1})
        with pytest.raises(BackboneError, match="no longer owns"):
            await consumer.commit({TopicPartition("t"): 1})  # never fetched: no lease

    async def test_publish_before_start_says_to_start(self) -> None:
        backbone = EmbeddedBackbone(self.path)
        with pytest.raises(BackboneError, match="start"):
            await backbone.publish([Record("t", b"x")])

    async def test_unwritable_location_names_the_path(self, tmp_path: Path) -> None:
        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        backbone = EmbeddedBackbone(blocker / "sub" / "log.db")
        with pytest.raises(BackboneError, match=str(blocker)):
            await backbone.start()

    async def test_a_file_that_is_not_a_backbone_is_reported(self, tmp_path: Path) -> None:
        path = tmp_path / "log.db"
        path.write_bytes(os.urandom(4096))
        with pytest.raises(BackboneError, match="not a usable backbone file"):
            await EmbeddedBackbone(path).start()

    def test_bad_settings_are_refused_eagerly(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="synchronous"):
            EmbeddedBackbone(tmp_path / "x.db", synchronous="OFF")
        with pytest.raises(ConfigError, match="lease_seconds"):
            EmbeddedBackbone(tmp_path / "x.db", lease_seconds=0)

    def test_open_backbone_follows_the_settings(self, tmp_path: Path) -> None:
        default = open_backbone(Settings(home=tmp_path))
        assert isinstance(default, EmbeddedBackbone)
        assert default.path == tmp_path / "var" / "backbone.db"
        chosen = open_backbone(Settings(home=tmp_path, backbone=f"embedded://{tmp_path}/b.db"))
        assert isinstance(chosen, EmbeddedBackbone)
        assert chosen.path == tmp_path / "b.db"
        kafka = open_backbone(Settings(home=tmp_path, backbone="kafka://127.0.0.1:9092"))
        assert isinstance(kafka, KafkaBackbone)
        assert kafka.config.bootstrap == ["127.0.0.1:9092"]
        unknown = Settings.model_construct(home=tmp_path, backbone="amqp://localhost:5672")
        with pytest.raises(ConfigError, match=r"'embedded'.*'kafka://"):
            open_backbone(unknown)
