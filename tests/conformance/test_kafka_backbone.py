"""The Kafka backbone against the shared backbone suite on a real broker, plus what only it has."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from exchange.backbone import (
    Backbone,
    ClaimStore,
    Consumer,
    KafkaBackbone,
    KafkaConfig,
    Record,
    TopicPartition,
)
from exchange.backbone.claims import CLAIM, CLAIM_ERROR
from exchange.backbone.kafka import KafkaConsumer
from exchange.errors import BackboneError
from tests.conformance.backbone_suite import BackboneSuite
from tools.kafka_broker import KafkaCluster

POLL_INTERVAL_MS = 10_000  # a member idle this long leaves its group (see lose_ownership)
SMALL_RECORDS = 64 * 1024


def suite_config(bootstrap: str, **overrides: object) -> KafkaConfig:
    settings: dict[str, object] = {
        "bootstrap": bootstrap.split(","),
        "prefix": "suite.",
        # One partition, as the embedded backbone has: the suite's ownership tests say
        # "the member that owns the topic"; rebalancing several partitions is tested below.
        "partitions": 1,
        "session_timeout_ms": 6_000,
        "max_poll_interval_ms": POLL_INTERVAL_MS,
        **overrides,
    }
    return KafkaConfig(**settings)  # type: ignore[arg-type]


def child_backbone(argument: str) -> Backbone:
    """Builds the backbone of the suite's child processes: ``bootstrap|claims.db``."""
    bootstrap, _, database = argument.partition("|")
    return KafkaBackbone(suite_config(bootstrap), ClaimStore(f"sqlite+aiosqlite:///{database}"))


class TestKafkaBackbone(BackboneSuite):
    takeover_timeout = 25.0
    child_factory = "tests.conformance.test_kafka_backbone:child_backbone"

    @pytest.fixture(autouse=True)
    def _cluster(self, kafka_broker: KafkaCluster, tmp_path: Path) -> None:
        self.bootstrap = kafka_broker.bootstrap
        self.database = tmp_path / "claims.db"

    def claims(self) -> ClaimStore:
        return ClaimStore(f"sqlite+aiosqlite:///{self.database}")

    async def make_backbone(self) -> Backbone:
        backbone = KafkaBackbone(suite_config(self.bootstrap), self.claims())
        await backbone.start()
        return backbone

    async def crash(self, consumer: Consumer) -> None:
        # Leaves without committing; a member killed outright is the child-process test's.
        await consumer.close()

    async def lose_ownership(self, consumer: Consumer) -> None:
        await asyncio.sleep(POLL_INTERVAL_MS / 1000 + 1.5)

    def child_argument(self) -> str:
        return f"{self.bootstrap}|{self.database}"

    # -- only the Kafka backbone -------------------------------------------------------------

    async def test_declares_transactions_and_process_groups(self) -> None:
        caps = KafkaBackbone.capabilities
        assert (caps.transactional, caps.multi_process_groups) == (True, True)
        assert caps.deduplicates_publish is False

    async def test_topics_are_created_with_the_settings_shape(self) -> None:
        config = suite_config(self.bootstrap, partitions=3, min_insync_replicas=1)
        backbone = KafkaBackbone(config, self.claims())
        await backbone.start()
        self._opened.append(backbone)
        topic = self.topic()
        await backbone.publish([Record(topic, b"x")])
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            described = await admin.describe_topics([f"suite.{topic}"])
            (resource,) = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, f"suite.{topic}")]
            )
        finally:
            await admin.close()
        assert len(described[0]["partitions"]) == 3
        configs = {entry[0]: entry[1] for entry in resource.resources[0][4]}
        assert configs["min.insync.replicas"] == "1"
        assert int(configs["max.message.bytes"]) > config.max_record_bytes

    async def test_partitions_are_shared_and_handed_over_on_rebalance(self) -> None:
        backbone = KafkaBackbone(suite_config(self.bootstrap, partitions=4), self.claims())
        await backbone.start()
        self._opened.append(backbone)
        topic = self.topic()
        await backbone.publish([Record(topic, b"%d" % i, key=f"k{i}") for i in range(40)])
        first = await backbone.consumer("g", [topic])
        got_first = await self.fetch_until(first, 40, timeout=20)
        assert len(got_first) == 40
        # Commit half of each partition, then a second member joins: the partitions split.
        halves = {}
        for record in got_first:
            halves.setdefault(record.position, []).append(record)
        await first.commit({p: rs[len(rs) // 2].offset for p, rs in halves.items()})
        second = await backbone.consumer("g", [topic])
        assert isinstance(first, KafkaConsumer) and isinstance(second, KafkaConsumer)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.takeover_timeout
        again: list[bytes] = []
        while loop.time() < deadline and not (first.owned and second.owned):
            again += self.values(await first.fetch(timeout=0.2))
            again += self.values(await second.fetch(timeout=0.2))
        assert first.owned and second.owned, "the second member never got a partition"
        assert not first.owned & second.owned
        # The member that kept its partitions goes on; the moved ones restart at the commit.
        uncommitted = {r.value for rs in halves.values() for r in rs[len(rs) // 2 :]}
        again += self.values(await self.fetch_until(second, len(uncommitted), timeout=5))
        assert set(again) <= uncommitted

    async def test_payloads_over_the_record_limit_travel_by_claim_check(self) -> None:
        config = suite_config(self.bootstrap, max_record_bytes=SMALL_RECORDS)
        backbone = KafkaBackbone(config, self.claims())
        await backbone.start()
        self._opened.append(backbone)
        topic = self.topic()
        big = b"<doc>" + b"x" * (4 * SMALL_RECORDS) + b"</doc>"
        await backbone.publish([Record(topic, big, headers={"h": "v"}), Record(topic, b"<s/>")])
        consumer = await backbone.consumer("g", [topic])
        first, second = await self.fetch_until(consumer, 2)
        assert first.value == big and dict(first.headers) == {"h": "v"}
        assert second.value == b"<s/>"
        # A payload changed in the store is refused, not delivered.
        with sqlite3.connect(self.database) as db:
            db.execute("UPDATE claimed_payloads SET body = ?", (b"<doc>forged</doc>",))
        other = await backbone.consumer("other", [topic])
        forged, _ = await self.fetch_until(other, 2)
        assert forged.value == b""
        assert "does not match its hash" in forged.headers[CLAIM_ERROR]
        assert CLAIM not in forged.headers

    async def test_an_unreachable_cluster_is_a_clear_error(self) -> None:
        backbone = KafkaBackbone(suite_config("127.0.0.1:1"), self.claims())
        with pytest.raises(BackboneError, match=r"cannot reach Kafka at 127\.0\.0\.1:1"):
            await backbone.start()
        await backbone.close()

    async def test_a_record_key_keeps_the_partition(self) -> None:
        backbone = KafkaBackbone(suite_config(self.bootstrap, partitions=4), self.claims())
        await backbone.start()
        self._opened.append(backbone)
        topic = self.topic()
        keys = [uuid.uuid4().hex for _ in range(8)]
        await backbone.publish([Record(topic, b"%d" % i, key=keys[i % 8]) for i in range(64)])
        consumer = await backbone.consumer("g", [topic])
        got = await self.fetch_until(consumer, 64, timeout=10)
        partitions: dict[str | None, set[int]] = {}
        for record in got:
            partitions.setdefault(record.key, set()).add(record.partition)
        assert all(len(found) == 1 for found in partitions.values())

    async def test_backlog_is_summed_over_the_partitions(self) -> None:
        backbone = KafkaBackbone(suite_config(self.bootstrap, partitions=3), self.claims())
        await backbone.start()
        self._opened.append(backbone)
        topic = self.topic()
        await backbone.publish([Record(topic, b"%d" % i, key=f"k{i}") for i in range(30)])
        assert await backbone.backlog("g", [topic]) == {topic: 30}
        consumer = await backbone.consumer("g", [topic])
        got = await self.fetch_until(consumer, 30, timeout=20)
        by_partition: dict[int, list[int]] = {}
        for record in got:
            by_partition.setdefault(record.partition, []).append(record.offset)
        assert len(by_partition) > 1, "the keys should have spread over the partitions"
        # commit one record of each partition: the rest of each is still owed
        await consumer.commit({record.position: 1 for record in got})
        assert await backbone.backlog("g", [topic]) == {topic: 30 - len(by_partition)}
        await consumer.commit(
            {TopicPartition(topic, p): max(offsets) + 1 for p, offsets in by_partition.items()}
        )
        assert await backbone.backlog("g", [topic]) == {topic: 0}
