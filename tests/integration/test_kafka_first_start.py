"""A hub's first start on Kafka, when none of its topics and groups exist yet, logs no error.

Creating topics and groups makes a healthy broker answer some requests with retriable errors
for a moment (partitions not led yet, the group coordinator loading); those are not errors
of the hub's and must not read like one in its log.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest

from tests.harness import SAMR_SAMPLES, FakeDepartment, HubProcess, make_home, wait_for
from tests.integration.conftest import routes_for
from tools.kafka_broker import KafkaCluster

# The hub's own lines ("<date> <time> ERROR <logger>: ...") and uvicorn's ("ERROR:    ...").
ERROR_LINE = re.compile(r"^(\S+ \S+ (ERROR|CRITICAL) |(ERROR|CRITICAL):)")


@pytest.mark.slow
def test_a_first_start_on_a_fresh_prefix_logs_no_error(
    kafka_broker: KafkaCluster, dept: FakeDepartment, tmp_path: Path
) -> None:
    dept.reset()
    hub = HubProcess(
        home=make_home(tmp_path, routes_for(dept)),
        data_dir=tmp_path / "var",
        env={
            "EXCHANGE_BACKBONE": f"kafka://{kafka_broker.bootstrap}",
            "EXCHANGE_KAFKA_PREFIX": f"first-{uuid.uuid4().hex[:8]}.",
            # Many new partitions: each is a chance to be asked before its leader serves.
            "EXCHANGE_KAFKA_PARTITIONS": "12",
        },
    )
    key = hub.create_key("samr-reg")
    auth = {"Authorization": f"Bearer {key}"}
    hub.start()
    try:
        answer = httpx.post(
            f"{hub.url}/v1/messages",
            content=(SAMR_SAMPLES / "valid" / "nanning-qinghe-data-technology.xml").read_bytes(),
            headers={**auth, "Content-Type": "application/xml"},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        status = f"{hub.url}/v1/messages/{answer.json()['id']}"
        wait_for(
            lambda: httpx.get(status, headers=auth, timeout=10).json()["status"] == "delivered",
            timeout=30,
        )
    finally:
        hub.stop()
    assert hub.stopped_cleanly, hub.log()
    errors = [line for line in hub.log().splitlines() if ERROR_LINE.match(line)]
    assert errors == [], "\n".join(errors)
