"""Creating the hub's Kafka topics when first used, with the settings' shape."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from exchange.errors import BackboneError

if TYPE_CHECKING:
    from exchange.backbone.kafka import KafkaConfig

TOPIC_ALREADY_EXISTS = 36


class TopicAdmin:
    """Knows which topics exist; creates the missing ones (idempotently, across processes)."""

    def __init__(self, config: KafkaConfig) -> None:
        self._config = config
        self._admin: AIOKafkaAdminClient | None = None
        self._known: set[str] = set()
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=self._config.bootstrap, client_id=self._config.client_id
        )
        try:
            await self._admin.start()
            self._known.update(await self._admin.list_topics())
        except KafkaError as exc:
            await self.close()
            raise BackboneError(
                f"cannot reach Kafka at {','.join(self._config.bootstrap)}: {exc}; start the "
                "brokers (make kafka-up) or fix EXCHANGE_BACKBONE"
            ) from exc

    async def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            await admin.close()

    def topic_configs(self) -> dict[str, str]:
        return {
            "min.insync.replicas": str(self._config.min_insync_replicas),
            "max.message.bytes": str(self._config.request_bytes),
            # A broker that lost its data must not lead: an acknowledged record is never lost.
            "unclean.leader.election.enable": "false",
        }

    async def ensure(self, topics: Iterable[str]) -> None:
        missing = [topic for topic in topics if topic not in self._known]
        if not missing:
            return
        async with self._lock:
            missing = [topic for topic in missing if topic not in self._known]
            if missing:
                await self._create(missing)

    async def _create(self, topics: list[str]) -> None:
        if self._admin is None:
            raise BackboneError("the Kafka backbone is not started")
        config = self._config
        wanted = [
            NewTopic(
                name=topic,
                num_partitions=config.partitions,
                replication_factor=config.replication_factor,
                topic_configs=self.topic_configs(),
            )
            for topic in topics
        ]
        try:
            response = await self._admin.create_topics(wanted)
        except KafkaError as exc:
            raise BackboneError(f"cannot create Kafka topics {topics}: {exc}") from exc
        for error in response.topic_errors:
            topic, code = error[0], error[1]
            if code not in (0, TOPIC_ALREADY_EXISTS):
                message = error[2] if len(error) > 2 else ""
                raise BackboneError(
                    f"Kafka refused to create topic {topic!r} (error {code}: {message}); with "
                    f"{config.replication_factor} replicas the cluster needs at least that many "
                    "brokers (EXCHANGE_KAFKA_REPLICATION_FACTOR)"
                )
        await self._wait_for_leaders(topics)
        self._known.update(topics)

    async def _wait_for_leaders(self, topics: list[str], timeout: float = 10.0) -> None:
        """Until every partition of ``topics`` has a leader: a consumer group assigned
        before that may see a new topic without partitions."""
        assert self._admin is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            try:
                described = await self._admin.describe_topics(topics)
            except KafkaError:
                described = []
            if len(described) == len(topics) and all(
                topic.get("error_code", 0) == 0
                and topic.get("partitions")
                and all(part.get("leader", -1) >= 0 for part in topic["partitions"])
                for topic in described
            ):
                return
            await asyncio.sleep(0.1)
        # Not fatal: producers and consumers retry until the leaders are elected.
