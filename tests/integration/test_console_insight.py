"""The console's topology, health and statistics API against real demo hubs: in the default
three-process layout, in one process, and on Kafka."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.console import ConsoleHub, send, start_console_hub
from tests.harness import SAMR_SAMPLES, free_port, wait_for
from tools.kafka_broker import KafkaCluster

pytestmark = pytest.mark.slow

SAMR = "samr.EnterpriseRegistration"
TAX_ROUTE = "enterprise-registration-to-tax-and-registry"
SOCIAL_ROUTE = "enterprise-registration-with-employees-to-social-security"
ENDPOINTS = ("tax-bureau", "social-security", "legal-entity-registry")
INVALID = SAMR_SAMPLES / "invalid" / "credit-code-bad-check-character.xml"


@contextlib.contextmanager
def signed_in(hub: ConsoleHub, key: str) -> Iterator[httpx.Client]:
    """A client holding a console session opened with ``key``."""
    with httpx.Client(base_url=hub.url, timeout=15) as client:
        answer = client.post("/console/api/session", json={"key": key})
        assert answer.status_code == 200, answer.text
        yield client


def get(client: httpx.Client, path: str, **params: str) -> Any:
    answer = client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def delivered_to_all(client: httpx.Client, count: int) -> bool:
    """Every demo receiver has ``count`` deliveries today, as the statistics count them."""
    today = datetime.now(UTC).date().isoformat()
    answer = get(client, "/console/api/statistics", by="endpoint", since=today, until=today)
    delivered = {row["endpoint"]: row["delivered"] for row in answer["rows"]}
    return all(delivered.get(name) == count for name in ENDPOINTS)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleHub]:
    """The demo in ``exchange serve``'s default layout: front door, router, delivery+indexer."""
    started = start_console_hub(tmp_path_factory.mktemp("insight"), processes=3)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def traffic(hub: ConsoleHub) -> dict[str, int]:
    """Three registrations delivered to the three receivers, and one refused."""
    for _ in range(3):
        send(hub)
    refused = httpx.post(
        f"{hub.url}/v1/messages",
        content=INVALID.read_bytes(),
        headers={"Authorization": "Bearer demo-key-samr-reg", "Content-Type": "application/xml"},
    )
    assert refused.status_code == 422, refused.text
    with signed_in(hub, hub.operator_key) as client:
        wait_for(lambda: delivered_to_all(client, 3))
    return {"accepted": 3, "rejected": 1}


def test_topology_shows_the_demo_fan_out_with_its_adapter_chains(
    hub: ConsoleHub, traffic: dict[str, int]
) -> None:
    with signed_in(hub, hub.viewer_key) as client:  # viewers may look
        body = get(client, "/console/api/topology", window="3600")
    nodes = {node["id"]: node for node in body["nodes"]}
    for expected in (
        "sender:samr-reg",
        f"type:{SAMR}",
        f"route:{TAX_ROUTE}",
        f"route:{SOCIAL_ROUTE}",
        *(f"endpoint:{name}" for name in ENDPOINTS),
    ):
        assert expected in nodes, sorted(nodes)
    assert nodes["endpoint:tax-bureau"]["kind"] == "soap"
    edges = {(edge["from"], edge["to"]): edge for edge in body["edges"]}
    chains = {
        endpoint: [
            adapter["name"]
            for adapter in edges[(f"route:{route}", f"endpoint:{endpoint}")]["adapters"]
        ]
        for route, endpoint in (
            (TAX_ROUTE, "tax-bureau"),
            (TAX_ROUTE, "legal-entity-registry"),
            (SOCIAL_ROUTE, "social-security"),
        )
    }
    assert chains == {
        "tax-bureau": ["samr-to-canonical", "canonical-to-tax"],
        "legal-entity-registry": ["samr-to-canonical"],
        "social-security": ["samr-to-canonical", "canonical-to-hrss"],
    }
    # each edge carries what crossed it within the window
    sent = edges[("sender:samr-reg", f"type:{SAMR}")]["traffic"]
    assert (sent["accepted"], sent["rejected"], sent["errors"]) == (3, 1, 1)
    assert sent["rate"] > 0
    for route, endpoint in ((TAX_ROUTE, "tax-bureau"), (SOCIAL_ROUTE, "social-security")):
        crossed = edges[(f"route:{route}", f"endpoint:{endpoint}")]["traffic"]
        assert (crossed["delivered"], crossed["errors"]) == (3, 0)
    assert body["window_s"] == 3600


def test_health_shows_backbone_store_and_the_stages_alive_in_worker_processes(
    hub: ConsoleHub,
) -> None:
    with signed_in(hub, hub.viewer_key) as client:
        health = get(client, "/console/api/health")
    assert health["status"] == "green", health
    backbone, store = health["backbone"], health["store"]
    assert backbone["kind"] == "embedded" and backbone["status"] == "green"
    assert backbone["path"] == str(hub.data_dir / "backbone.db")
    assert backbone["size_bytes"] > 0 and backbone["disk_free_bytes"] > 0
    assert store["dialect"] == "sqlite" and store["status"] == "green"
    assert store["size_bytes"] > 0 and store["index_failures"] == 0
    stages = {stage["name"]: stage for stage in health["stages"]}
    assert set(stages) == {"router", "delivery", "indexer"}
    front_door = hub.process.process.pid if hub.process.process else None
    for stage in stages.values():
        assert stage["alive"] is True and stage["status"] == "green", stage
        assert stage["runs_in"] == "worker process"
        assert stage["pid"] not in (None, front_door)
    assert stages["router"]["worker"] == "router"
    assert stages["delivery"]["pid"] == stages["indexer"]["pid"]  # delivery+indexer together
    assert stages["router"]["lag"] == {"router": {"inbound": 0}}
    assert set(stages["delivery"]["lag"]) == {f"delivery.{name}" for name in ENDPOINTS}
    assert stages["delivery"]["lag"]["delivery.tax-bureau"] == {
        "deliver.tax-bureau": 0,
        "retry.tax-bureau": 0,
    }
    assert stages["indexer"]["lag"] == {"store-indexer": {"events": 0, "dead-letters": 0}}
    rules = health["rules"]
    assert {(s["name"], s["version"]) for s in rules["schemas"]} >= {(SAMR, "1.0")}
    adapters = {a["name"]: a["kind"] for a in rules["adapters"]}
    assert adapters["samr-to-canonical"] == "xslt" and adapters["canonical-to-hrss"] == "python"
    assert (rules["routes"], rules["endpoints"]) == (2, 3)
    assert len(rules["digest"]) == 16


def test_health_sees_a_killed_worker_restarted(hub: ConsoleHub) -> None:
    with signed_in(hub, hub.operator_key) as client:
        router = next(
            s for s in get(client, "/console/api/health")["stages"] if s["name"] == "router"
        )
        os.kill(router["pid"], signal.SIGKILL)

        def restarted() -> bool:
            now = next(
                s for s in get(client, "/console/api/health")["stages"] if s["name"] == "router"
            )
            return now["restarts"] == 1 and now["alive"] is True and now["pid"] != router["pid"]

        wait_for(restarted, timeout=20, every=0.5)


def test_statistics_count_what_was_sent_and_the_csv_opens_in_excel(
    hub: ConsoleHub, traffic: dict[str, int]
) -> None:
    today = datetime.now(UTC).date().isoformat()
    with signed_in(hub, hub.viewer_key) as client:
        by_sender = get(client, "/console/api/statistics", by="sender", since=today, until=today)
        answer = client.get(
            "/console/api/statistics",
            params={"by": "sender", "since": today, "until": today, "format": "csv", "lang": "zh"},
        )
    [samr] = [row for row in by_sender["rows"] if row["sender"] == "samr-reg"]
    assert (samr["accepted"], samr["rejected"], samr["messages"]) == (3, 1, 4)
    assert (samr["delivered"], samr["failures"]) == (9, 1)  # three receivers each
    assert samr["median_latency_ms"] > 0
    assert {row["sender"] for row in by_sender["rows"]} >= {"samr-reg", "legal-entity-registry"}

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith("attachment;") and ".csv" in disposition
    assert answer.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for UTF-8
    table = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    header, rows = table[0], table[1:]
    assert header[:5] == ["周期", "起始日", "截止日", "发送方", "名称"]
    [line] = [row for row in rows if row[0] == today and row[3] == "samr-reg"]
    record = dict(zip(header, line, strict=True))
    assert (record["消息数"], record["已拒绝"], record["失败数"]) == ("4", "1", "1")
    assert "市场监管局企业登记系统" in record["名称"]


def test_insight_needs_a_session_and_usable_parameters(hub: ConsoleHub) -> None:
    for path in ("/console/api/topology", "/console/api/health", "/console/api/statistics"):
        answer = httpx.get(hub.url + path)
        assert answer.status_code == 401, (path, answer.text)
        # a sender's key is no console session
        keyed = httpx.get(hub.url + path, headers={"Authorization": "Bearer demo-key-samr-reg"})
        assert keyed.status_code == 401, (path, keyed.text)
    with signed_in(hub, hub.viewer_key) as client:
        for path, params, says in (
            ("/console/api/statistics", {"period": "year"}, "period='year'"),
            ("/console/api/statistics", {"since": "yesterday"}, "since='yesterday' is not a date"),
            ("/console/api/statistics", {"format": "xlsx"}, "format='xlsx'"),
            ("/console/api/topology", {"window": "0"}, "window=0"),
        ):
            answer = client.get(path, params=params)
            assert answer.status_code == 400, answer.text
            assert answer.headers["content-type"] == "application/problem+json"
            assert says in answer.json()["detail"]


def test_health_in_one_process_runs_every_stage_in_the_serving_process(tmp_path: Path) -> None:
    single = start_console_hub(tmp_path, processes=1)
    try:
        with signed_in(single, single.viewer_key) as client:
            health = get(client, "/console/api/health")
    finally:
        single.stop()
    assert health["status"] == "green", health
    serving = single.process.process.pid if single.process.process else None
    for stage in health["stages"]:
        assert stage["runs_in"] == "serving process", stage
        assert (stage["alive"], stage["pid"], stage["lag_total"]) == (True, serving, 0)


def test_health_on_kafka_lists_the_broker_and_the_topics(
    kafka_broker: KafkaCluster, tmp_path: Path
) -> None:
    prefix = f"insight-{uuid.uuid4().hex[:8]}."
    gone = f"127.0.0.1:{free_port()}"  # a broker of the settings that no longer runs
    env = {
        "EXCHANGE_BACKBONE": f"kafka://{kafka_broker.bootstrap},{gone}",
        "EXCHANGE_KAFKA_PREFIX": prefix,
        "EXCHANGE_KAFKA_PARTITIONS": "2",
    }
    on_kafka = start_console_hub(tmp_path, processes=1, env=env)
    try:
        send(on_kafka)
        with signed_in(on_kafka, on_kafka.viewer_key) as client:
            wait_for(lambda: delivered_to_all(client, 1), timeout=60)
            health = get(client, "/console/api/health")
    finally:
        on_kafka.stop()
    backbone = health["backbone"]
    assert backbone["kind"] == "kafka" and backbone["status"] == "amber", backbone
    assert backbone["reason"] == f"broker(s) {gone} cannot be reached; restart them"
    live, lost = backbone["brokers"]
    assert live["reachable"] is True and live["node_id"] is not None
    assert f"{live['host']}:{live['port']}".endswith(kafka_broker.bootstrap.split(":")[-1])
    assert (f"{lost['host']}:{lost['port']}", lost["reachable"]) == (gone, False)
    topics = {topic["name"]: topic for topic in backbone["topics"]}
    for name in ("inbound", "events", "deliver.tax-bureau"):
        assert topics[prefix + name]["present"] is True
        assert topics[prefix + name]["partitions"] == 2
        assert topics[prefix + name]["problems"] == []
    stages = {stage["name"]: stage for stage in health["stages"]}
    assert stages["router"]["lag"] == {"router": {"inbound": 0}}
    assert all(stage["alive"] is True for stage in stages.values())
