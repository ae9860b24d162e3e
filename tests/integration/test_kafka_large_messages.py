"""A message over Kafka's record limit is carried by claim check, not refused."""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from pathlib import Path

import httpx
import pytest

from tests.harness import SAMR_SAMPLES, FakeDepartment, HubProcess, make_home, wait_for
from tests.integration.conftest import routes_for
from tools.kafka_broker import KafkaCluster

RECORD_LIMIT = 64 * 1024


@pytest.mark.slow
def test_a_message_over_the_record_limit_is_delivered_by_claim_check(
    kafka_broker: KafkaCluster, dept: FakeDepartment, tmp_path: Path
) -> None:
    dept.reset()
    hub = HubProcess(
        home=make_home(tmp_path, routes_for(dept)),
        data_dir=tmp_path / "var",
        env={
            "EXCHANGE_BACKBONE": f"kafka://{kafka_broker.bootstrap}",
            "EXCHANGE_KAFKA_PREFIX": f"large-{uuid.uuid4().hex[:8]}.",
            "EXCHANGE_KAFKA_MAX_RECORD_BYTES": str(RECORD_LIMIT),
        },
    )
    key = hub.create_key("samr-reg")
    sample = (SAMR_SAMPLES / "valid" / "nanning-qinghe-data-technology.xml").read_bytes()
    # Still the same valid document: a comment pads it to five times the record limit.
    padding = b"<!--" + b"attachment index " * (5 * RECORD_LIMIT // 17) + b"-->"
    head, _, rest = sample.partition(b"?>")
    body = head + b"?>" + padding + rest
    assert len(body) > 5 * RECORD_LIMIT
    hub.start()
    try:
        answer = httpx.post(
            f"{hub.url}/v1/messages",
            content=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/xml"},
        )
        assert answer.status_code == 202, answer.text
        wait_for(lambda: all(dept.received.get(name) for name in _ENDPOINTS), timeout=30)
    finally:
        hub.stop()
    with sqlite3.connect(tmp_path / "var" / "store.db") as db:
        stored = db.execute("SELECT digest, size FROM claimed_payloads").fetchall()
    assert (hashlib.sha256(body).hexdigest(), len(body)) in stored


_ENDPOINTS = ("tax-bureau", "legal-entity-registry", "social-security")
