"""Real Apache Kafka for tests, started from the Maven Central jars by ``tools.kafka_broker``.

Tests that claim to test Kafka run against a real broker, never a stand-in. The session
fixture ``kafka_broker`` (tests/conftest.py) is one node; a test that needs replication and
failover starts its own three nodes::

    with three_node_cluster(tmp_path) as cluster:
        await create_topic(cluster.bootstrap, "t", replication_factor=3)
        cluster.stop_node(2)

If Kafka cannot start (no Java 17, no Maven for the first fetch, a broker that dies), the test
fails with the reason: a skipped Kafka test would claim a coverage that nobody has.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tools.kafka_broker import KafkaCluster, KafkaToolError


def start_cluster(root: Path, nodes: int = 1, timeout: float = 90) -> KafkaCluster:
    """A started cluster under ``root``; the calling test fails if it cannot start."""
    cluster = KafkaCluster(root, nodes)
    try:
        cluster.start(timeout=timeout)
    except KafkaToolError as exc:
        problem = str(exc)
    else:
        return cluster
    # Outside the except block: the failure shows the reason, not a chained traceback.
    pytest.fail(f"Kafka ({nodes} node(s)) could not start: {problem}", pytrace=False)


@contextmanager
def three_node_cluster(tmp_path: Path) -> Iterator[KafkaCluster]:
    """Three KRaft nodes (replication 3, min.insync.replicas 2), stopped on exit."""
    cluster = start_cluster(tmp_path / "kafka-3", nodes=3)
    try:
        yield cluster
    finally:
        cluster.stop()


async def create_topic(
    bootstrap: str,
    name: str,
    *,
    partitions: int = 1,
    replication_factor: int = 1,
    configs: dict[str, str] | None = None,
) -> None:
    """Create a topic (brokers here never auto-create them) and wait for the answer."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name, partitions, replication_factor, topic_configs=configs or {})]
        )
    finally:
        await admin.close()
    for topic, code, *rest in response.topic_errors:
        if code != 0:
            raise AssertionError(f"creating topic {topic} failed: error {code} {rest}")
