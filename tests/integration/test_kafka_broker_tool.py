"""tools/kafka_broker.py: a real Kafka from Maven Central jars, and what aiokafka does with it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from tests.kafka_cluster import create_topic, start_cluster, three_node_cluster
from tools import kafka_broker
from tools.kafka_broker import KafkaCluster, KafkaToolError

ROOT = Path(__file__).resolve().parents[2]


def _topic(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _read(
    bootstrap: str, topic: str, count: int, *, timeout: float = 20, **options: object
) -> list[bytes]:
    """The first ``count`` values of ``topic`` (from the beginning), or fail after ``timeout``."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", **options
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(timeout):
            while len(values) < count:
                batches = await consumer.getmany(timeout_ms=500)
                values.extend(r.value for records in batches.values() for r in records if r.value)
    finally:
        await consumer.stop()
    return values


# --- configuration, Java and jars (no broker) --------------------------------------------------


def test_three_node_config_replicates_internal_topics_and_needs_two_in_sync(
    tmp_path: Path,
) -> None:
    cluster = KafkaCluster(
        tmp_path, nodes=3, ports=[9101, 9102, 9103], controller_ports=[9201, 9202, 9203]
    )
    props = cluster.server_properties(1)
    assert props["node.id"] == "1"
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == (
        "0@127.0.0.1:9201,1@127.0.0.1:9202,2@127.0.0.1:9203"
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9102,CONTROLLER://127.0.0.1:9202"
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor"):
        assert props[key] == "3"
    assert props["min.insync.replicas"] == props["transaction.state.log.min.isr"] == "2"
    assert props["message.max.bytes"] == props["replica.fetch.max.bytes"] == str(16 * 1024**2)
    assert cluster.bootstrap == "127.0.0.1:9101,127.0.0.1:9102,127.0.0.1:9103"

    single = KafkaCluster(tmp_path / "one").server_properties(0)
    assert single["offsets.topic.replication.factor"] == "1"
    assert single["min.insync.replicas"] == single["transaction.state.log.min.isr"] == "1"


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_392"', 8),
        ('openjdk version "21" 2023-09-19', 21),
        ("no version here", None),
    ],
)
def test_java_major_version(output: str, major: int | None) -> None:
    assert kafka_broker.java_major_version(output) == major


def test_old_java_is_refused_with_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin" / "java"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'openjdk version \"11.0.22\" 2024-01-16' >&2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(KafkaToolError, match=r"Java 11, Kafka needs 17\+.*openjdk-17-jre"):
        kafka_broker.check_java()


def test_fixture_helper_fails_the_test_when_kafka_cannot_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin" / "java"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'java version \"1.8.0_392\"' >&2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match=r"could not start: .*Java 8, Kafka needs 17"):
        start_cluster(tmp_path / "kafka")


def test_jars_are_fetched_once_then_found_without_maven(monkeypatch: pytest.MonkeyPatch) -> None:
    libs = kafka_broker.ensure_jars()
    assert any(libs.glob("kafka_2.13-*.jar")) and any(libs.glob("log4j-slf4j-impl-*.jar"))
    # No mvn (nor anything else) on PATH: the cached copy must be enough.
    monkeypatch.setenv("PATH", "/nonexistent")
    assert kafka_broker.ensure_jars() == libs


# --- one broker (the session fixture) ----------------------------------------------------------


async def test_idempotent_produce_and_consume(kafka_broker: KafkaCluster) -> None:
    topic = _topic("roundtrip")
    await create_topic(kafka_broker.bootstrap, topic, partitions=3)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_broker.bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        sent = [f"message-{i}".encode() for i in range(10)]
        for value in sent:
            await producer.send_and_wait(topic, value, key=b"same-key")
    finally:
        await producer.stop()
    # One key, one partition: the order is kept.
    assert await _read(kafka_broker.bootstrap, topic, 10) == sent


async def test_two_mib_record_round_trip(kafka_broker: KafkaCluster) -> None:
    topic = _topic("large")
    size = 2 * 1024 * 1024
    await create_topic(kafka_broker.bootstrap, topic)
    payload = os.urandom(size)
    limit = 16 * 1024 * 1024
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_broker.bootstrap,
        acks="all",
        enable_idempotence=True,
        max_request_size=limit,
    )
    await producer.start()
    try:
        metadata = await producer.send_and_wait(topic, payload)
    finally:
        await producer.stop()
    assert metadata.offset == 0
    values = await _read(
        kafka_broker.bootstrap,
        topic,
        1,
        max_partition_fetch_bytes=limit,
        fetch_max_bytes=limit,
    )
    assert values == [payload]


async def test_transactions_commit_outputs_with_consumed_offsets(
    kafka_broker: KafkaCluster,
) -> None:
    """Read-process-write as the router does it: outputs and input offsets in one transaction."""
    bootstrap = kafka_broker.bootstrap
    source, sink, group = _topic("txn-in"), _topic("txn-out"), _topic("txn-group")
    await create_topic(bootstrap, source)
    await create_topic(bootstrap, sink)
    plain = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await plain.start()
    try:
        for value in (b"a", b"b"):
            await plain.send_and_wait(source, value)
    finally:
        await plain.stop()

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, transactional_id=_topic("txn-id"), enable_idempotence=True
    )
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send_and_wait(sink, b"A")
            await producer.send_offsets_to_transaction({TopicPartition(source, 0): 1}, group)
        with pytest.raises(RuntimeError, match="abort me"):
            async with producer.transaction():
                await producer.send_and_wait(sink, b"aborted")
                raise RuntimeError("abort me")
        async with producer.transaction():
            await producer.send_and_wait(sink, b"B")
            await producer.send_offsets_to_transaction({TopicPartition(source, 0): 2}, group)
    finally:
        await producer.stop()

    assert await _read(bootstrap, sink, 2, isolation_level="read_committed") == [b"A", b"B"]
    # read_uncommitted shows the aborted record too: the abort really happened broker-side.
    assert b"aborted" in await _read(bootstrap, sink, 3, isolation_level="read_uncommitted")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        assert await consumer.committed(TopicPartition(source, 0)) == 2
    finally:
        await consumer.stop()


def test_a_node_that_dies_at_start_fails_with_the_reason_from_its_log(tmp_path: Path) -> None:
    with socket.socket() as taken:  # bound, not listening: the broker cannot bind it
        taken.bind(("127.0.0.1", 0))
        cluster = KafkaCluster(tmp_path, ports=[taken.getsockname()[1]])
        with pytest.raises(KafkaToolError) as failure:
            cluster.start(timeout=60)
    assert "node 0 exited during start" in str(failure.value)
    assert "Address already in use" in str(failure.value)
    assert cluster.pids == {}


# --- three nodes -------------------------------------------------------------------------------


async def test_three_nodes_keep_acks_all_writes_going_with_one_node_down(tmp_path: Path) -> None:
    """Replication 3, min.insync.replicas 2: with the leader stopped, writes go on."""
    with three_node_cluster(tmp_path) as cluster:
        assert len(cluster.pids) == 3
        topic = _topic("replicated")
        await create_topic(
            cluster.bootstrap,
            topic,
            replication_factor=3,
            configs={"min.insync.replicas": "2"},
        )
        producer = AIOKafkaProducer(
            bootstrap_servers=cluster.bootstrap,
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=15000,
        )
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"three up")
            # Stop the partition's leader, the hardest case: a new leader must take over.
            leader = producer.client.cluster.leader_for_partition(TopicPartition(topic, 0))
            assert leader in cluster.pids
            await asyncio.to_thread(cluster.stop_node, leader)
            assert len(cluster.pids) == 2
            await producer.send_and_wait(topic, b"two up")
            await asyncio.to_thread(cluster.start_node, leader)
            assert len(cluster.pids) == 3
            await producer.send_and_wait(topic, b"three again")
        except KafkaError as exc:
            logs = "\n".join(f"--- node {n}\n{cluster.log_excerpt(n)}" for n in range(3))
            raise AssertionError(f"{exc!r}\n{logs}") from exc
        finally:
            await producer.stop()
        assert await _read(cluster.bootstrap, topic, 3) == [b"three up", b"two up", b"three again"]
        # A crash (SIGKILL) leaves no process behind; stop() on exit handles the other two.
        cluster.kill_node(1)
        assert sorted(cluster.pids) == [0, 2]
    assert cluster.pids == {}


# --- the command line --------------------------------------------------------------------------


def test_cli_up_status_down(tmp_path: Path) -> None:
    data = tmp_path / "kafka"
    port = kafka_broker.free_port()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tools.kafka_broker", *args, "--data", str(data)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=150,
            check=False,
        )

    try:
        up = cli("up", "--port", str(port))
        assert up.returncode == 0, up.stderr
        assert f"EXCHANGE_BACKBONE=kafka://127.0.0.1:{port}" in up.stdout
        again = cli("up", "--port", str(port))
        assert "already running" in again.stdout
        status = cli("status")
        assert status.returncode == 0 and "registered brokers: [0]" in status.stdout
    finally:
        down = cli("down")
    assert down.returncode == 0 and "Kafka stopped" in down.stdout, down.stdout + down.stderr
    assert KafkaCluster(data).pids == {}
    assert cli("status").returncode == 1
