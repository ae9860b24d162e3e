"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kafka_cluster import start_cluster
from tests.postgres import PostgresServer, PostgresUnavailable, start_postgres
from tools.kafka_broker import KafkaCluster


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:
        # A failure, not a skip: the store's PostgreSQL support is not tested without it.
        pytest.fail(problem, pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """One real Kafka node (KRaft) for the whole run; ``.bootstrap`` is its address.

    Fails (never skips) when Kafka cannot start: the reason says what to install.
    """
    cluster = start_cluster(tmp_path_factory.mktemp("kafka"))
    try:
        yield cluster
    finally:
        cluster.stop()
