"""How far behind a Kafka consumer group is: end offsets minus committed offsets, per topic.

Read with clients of its own (an admin client for the group's committed offsets and the
topics' partitions, a consumer without a group for the end offsets), started at the first
question, so a process that never asks pays nothing.  The end offsets are the last stable
ones (``read_committed``): records of a transaction still open are not yet anyone's backlog.

A transaction leaves a commit marker after its records, which takes an offset but is no
record; the hub's consumers commit past the markers they have read (kafka.py), so a group
that has caught up shows 0.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as KafkaPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from exchange.backbone.kafka_client import within
from exchange.errors import BackboneError

if TYPE_CHECKING:
    from exchange.backbone.kafka import KafkaConfig

_PARTITIONS_TTL_S = 10.0  # a topic or partition created since shows within this time
_TIMEOUT_S = 5.0
_RETRY_S = 0.1


class BacklogReader:
    def __init__(self, config: KafkaConfig) -> None:
        self._config = config
        self._admin: AIOKafkaAdminClient | None = None
        self._ends: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()
        self._partitions: dict[str, list[int]] = {}  # every topic of the cluster
        self._partitions_until = 0.0

    async def read(self, group: str, topics: Sequence[str]) -> dict[str, int]:
        """``group`` and ``topics`` are physical names (prefixed); the answer is keyed by
        the names as given."""
        try:
            async with asyncio.timeout(_TIMEOUT_S):
                while True:
                    try:
                        return await self._read(group, topics)
                    except KafkaError as exc:
                        # a fresh cluster has no group coordinator for a moment, a leader
                        # may be moving: such errors pass
                        if not getattr(exc, "retriable", False):
                            raise
                    await asyncio.sleep(_RETRY_S)
        except TimeoutError as exc:
            raise BackboneError(
                f"Kafka did not say within {_TIMEOUT_S:g} s how far group {group!r} is "
                "behind (brokers unreachable?); ask again later"
            ) from exc
        except KafkaError as exc:
            raise BackboneError(
                f"cannot read the backlog of group {group!r} from Kafka: {exc}; check that "
                "the brokers are reachable"
            ) from exc

    async def probe(self) -> None:
        """A broker answers a metadata request."""
        try:
            async with asyncio.timeout(_TIMEOUT_S):
                admin, _ = await self._clients()
                await admin.describe_cluster()
        except (TimeoutError, KafkaError) as exc:
            raise BackboneError(
                f"no Kafka broker of {','.join(self._config.bootstrap)} answered within "
                f"{_TIMEOUT_S:g} s ({exc!r}); start the brokers or fix EXCHANGE_BACKBONE"
            ) from exc

    async def _read(self, group: str, topics: Sequence[str]) -> dict[str, int]:
        admin, ends_reader = await self._clients()
        partitions = await self._partitions_of(admin, topics)
        every = [KafkaPartition(topic, p) for topic in topics for p in partitions.get(topic, [])]
        counts = dict.fromkeys(topics, 0)
        if not every:
            return counts
        committed = await admin.list_consumer_group_offsets(group, partitions=every)
        ends = await ends_reader.end_offsets(every)
        never = [tp for tp in every if _offset(committed.get(tp)) < 0]
        # a group without a commit starts at the earliest record still kept
        starts = await ends_reader.beginning_offsets(never) if never else {}
        for tp in every:
            start = _offset(committed.get(tp))
            if start < 0:
                start = starts.get(tp, 0)
            counts[tp.topic] += max(ends.get(tp, 0) - start, 0)
        return counts

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        async with self._lock:
            if self._admin is None or self._ends is None:
                config = self._config
                admin = AIOKafkaAdminClient(
                    bootstrap_servers=config.bootstrap, client_id=config.client_id
                )
                ends = AIOKafkaConsumer(
                    bootstrap_servers=config.bootstrap,
                    client_id=config.client_id,
                    group_id=None,
                    enable_auto_commit=False,
                    isolation_level="read_committed",
                )
                try:
                    await admin.start()
                    await ends.start()
                except BaseException:
                    await admin.close()
                    await ends.stop()
                    raise
                self._admin, self._ends = admin, ends
            return self._admin, self._ends

    async def _partitions_of(
        self, admin: AIOKafkaAdminClient, topics: Sequence[str]
    ) -> dict[str, list[int]]:
        """Each topic's partitions ([] for one not created yet), from a metadata request for
        every topic: asking for named topics would have a broker with
        ``auto.create.topics.enable`` create the missing ones, with its defaults rather
        than the hub's settings."""
        now = time.monotonic()
        if now >= self._partitions_until or any(t not in self._partitions for t in topics):
            described = await admin.describe_topics(None)
            self._partitions = {
                entry["topic"]: sorted(part["partition"] for part in entry.get("partitions", []))
                for entry in described
                if entry.get("error_code", 0) == 0 and "topic" in entry
            }
            self._partitions_until = now + _PARTITIONS_TTL_S
        return {topic: self._partitions.get(topic, []) for topic in topics}

    async def close(self) -> None:
        admin, ends = self._admin, self._ends
        self._admin = self._ends = None
        if ends is not None:
            await within(ends.stop(), "the backlog reader")
        if admin is not None:
            await within(admin.close(), "the backlog reader's admin client")


def _offset(entry: object) -> int:
    """The committed offset out of aiokafka's OffsetAndMetadata, -1 when there is none."""
    offset = getattr(entry, "offset", -1)
    return offset if isinstance(offset, int) else -1
