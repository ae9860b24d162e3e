"""``GET /metrics`` scraped from a real hub and read with Prometheus's own parser."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import SAMR_SAMPLES, FakeDepartment, HubProcess, make_home, wait_for
from tests.integration.conftest import SAMR, backbone_env, routes_for

SENT = 4  # valid messages, each to three endpoints


def scrape(hub: HubProcess, **headers: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    answer = httpx.get(hub.url + "/metrics", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


def post(hub: HubProcess, key: str | None, body: bytes) -> httpx.Response:
    headers = {"Content-Type": "application/xml"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.post(hub.url + "/v1/messages", content=body, headers=headers, timeout=10)


@pytest.fixture
def department() -> Iterator[FakeDepartment]:
    dept = FakeDepartment().start()
    # social security refuses everything: each delivery there is dead-lettered at once
    dept.behaviours["social-security"] = lambda _request, _n: web.Response(status=400)
    yield dept
    dept.stop()


def _worker_pid(hub: HubProcess, stages: str) -> int | None:
    assert hub.process is not None
    found = subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(hub.process.pid)], capture_output=True, text=True
    )
    for line in found.stdout.splitlines():
        pid, _, args = line.strip().partition(" ")
        if args.endswith(f"worker {stages}"):
            return int(pid)
    return None


@pytest.mark.parametrize("processes", [1, 3])
def test_metrics_count_what_was_sent(
    department: FakeDepartment, tmp_path: Path, processes: int
) -> None:
    hub = HubProcess(
        home=make_home(tmp_path, routes_for(department)),
        data_dir=tmp_path / "var",
        args=["--processes", str(processes)],
    )
    key = hub.create_key("samr-reg")
    operator = hub.create_key("ops", operator=True)
    valid = sorted((SAMR_SAMPLES / "valid").glob("*.xml"))[0].read_bytes()
    invalid = sorted((SAMR_SAMPLES / "invalid").glob("*.xml"))[0].read_bytes()
    hub.start()
    try:
        for _ in range(SENT):
            assert post(hub, key, valid).status_code == 202
        assert post(hub, key, invalid).status_code == 422
        assert post(hub, None, valid).status_code == 401
        assert post(hub, "not-a-key", valid).status_code == 401
        wait_for(lambda: len(department.distinct_ids("tax-bureau")) == SENT)
        wait_for(lambda: len(department.distinct_ids("legal-entity-registry")) == SENT)
        message = {"sender": "samr-reg", "type": SAMR}

        def settled() -> bool:
            samples = scrape(hub)
            dead = value(samples, "exchange_dead_letters_total", endpoint="social-security")
            backlog = value(samples, "exchange_backlog_records")
            return dead == SENT and backlog == 0

        wait_for(settled, timeout=30)
        samples = scrape(hub)
        assert value(samples, "exchange_messages_accepted_total", **message) == SENT
        assert value(samples, "exchange_ingress_seconds_count", **message) == SENT
        assert value(samples, "exchange_messages_rejected_total") == 3
        assert (
            value(
                samples,
                "exchange_messages_rejected_total",
                sender="samr-reg",
                status="422",
                reason="Invalid message",
            )
            == 1
        )
        assert (
            value(
                samples,
                "exchange_messages_rejected_total",
                sender="",
                status="401",
                reason="Unauthenticated",
            )
            == 2
        )
        for endpoint in ("tax-bureau", "legal-entity-registry"):
            delivered = value(
                samples,
                "exchange_deliveries_delivered_total",
                endpoint=endpoint,
                route="registration-fan-out",
                **message,
            )
            assert delivered == SENT, endpoint
            assert value(samples, "exchange_end_to_end_seconds_count", endpoint=endpoint) == SENT
            assert value(samples, "exchange_breaker_state", endpoint=endpoint) == 0
        assert (
            value(samples, "exchange_deliveries_delivered_total", endpoint="social-security") == 0
        )
        assert (
            value(samples, "exchange_deliveries_failed_total", endpoint="social-security") == SENT
        )
        assert value(samples, "exchange_dead_letters_total", stage="deliver", **message) == SENT
        assert value(samples, "exchange_delivery_attempt_seconds_count") == 3 * SENT
        assert (
            value(samples, "exchange_backbone_publish_seconds_count", operation="publish") >= SENT
        )
        assert value(samples, "exchange_backbone_reachable") == 1
        groups = {
            dict(labels)["group"] for name, labels in samples if name == "exchange_backlog_records"
        }
        assert groups == {
            "router",
            "store-indexer",
            "store-documents",
            "delivery.tax-bureau",
            "delivery.legal-entity-registry",
            "delivery.social-security",
        }
        # no label holds a message's id
        ids = department.distinct_ids("tax-bureau")
        assert not any(v in ids for _, labels in samples for _, v in labels)

        # a replay is counted under its endpoint
        department.behaviours.clear()
        listed = httpx.get(
            hub.url + "/v1/dead-letters", headers={"Authorization": f"Bearer {operator}"}
        ).json()["dead_letters"]
        replayed = httpx.post(
            f"{hub.url}/v1/dead-letters/{listed[0]['id']}/replay",
            headers={"Authorization": f"Bearer {operator}"},
        )
        assert replayed.status_code == 202, replayed.text
        wait_for(lambda: len(department.distinct_ids("social-security")) == 1)
        wait_for(
            lambda: (
                value(
                    scrape(hub), "exchange_deliveries_delivered_total", endpoint="social-security"
                )
                == 1
            )
        )
        samples = scrape(hub)
        assert (
            value(samples, "exchange_dead_letters_replayed_total", endpoint="social-security") == 1
        )

        if processes == 3:
            # a worker killed and started again: what it counted before is still counted
            before = _worker_pid(hub, "delivery indexer")
            assert before is not None
            os.kill(before, signal.SIGKILL)
            wait_for(lambda: _worker_pid(hub, "delivery indexer") not in (None, before))
            assert post(hub, key, valid).status_code == 202
            wait_for(lambda: len(department.distinct_ids("tax-bureau")) == SENT + 1, timeout=60)
            wait_for(
                lambda: (
                    value(scrape(hub), "exchange_deliveries_delivered_total", endpoint="tax-bureau")
                    >= SENT + 1
                ),
                timeout=30,
            )
    finally:
        hub.stop()
    assert hub.stopped_cleanly, hub.log()


def test_metrics_start_from_zero_when_the_hub_starts_again(
    department: FakeDepartment, tmp_path: Path
) -> None:
    hub = HubProcess(
        home=make_home(tmp_path, routes_for(department)),
        data_dir=tmp_path / "var",
        args=["--processes", "1"],
    )
    key = hub.create_key("samr-reg")
    valid = sorted((SAMR_SAMPLES / "valid").glob("*.xml"))[0].read_bytes()
    hub.start()
    try:
        assert post(hub, key, valid).status_code == 202
        assert value(scrape(hub), "exchange_messages_accepted_total") == 1
    finally:
        hub.stop()
    hub.start()
    try:
        assert value(scrape(hub), "exchange_messages_accepted_total") == 0
    finally:
        hub.stop()


def test_a_metrics_key_guards_the_scrape(department: FakeDepartment, tmp_path: Path) -> None:
    secret = "scrape-" + "k" * 20
    hub = HubProcess(
        home=make_home(tmp_path, routes_for(department)),
        data_dir=tmp_path / "var",
        env={"EXCHANGE_METRICS_KEY": secret},
        args=["--processes", "1"],
    )
    hub.start()
    try:
        refused = httpx.get(hub.url + "/metrics")
        assert refused.status_code == 401
        assert "EXCHANGE_METRICS_KEY" in refused.json()["detail"]
        wrong = httpx.get(hub.url + "/metrics", headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401
        assert (
            value(scrape(hub, Authorization=f"Bearer {secret}"), "exchange_backbone_reachable") == 1
        )
    finally:
        hub.stop()


def test_metrics_off_collects_nothing(department: FakeDepartment, tmp_path: Path) -> None:
    hub = HubProcess(
        home=make_home(tmp_path, routes_for(department)),
        data_dir=tmp_path / "var",
        env={"EXCHANGE_METRICS": "false"},
        args=["--processes", "1"],
    )
    hub.start()
    try:
        assert httpx.get(hub.url + "/metrics").status_code == 404
        time.sleep(0.1)
        assert not (tmp_path / "var" / "metrics").exists()
    finally:
        hub.stop()


def test_on_kafka_the_backlog_comes_back_to_zero_once_delivered(
    request: pytest.FixtureRequest, department: FakeDepartment, tmp_path: Path
) -> None:
    # every hop but the first is a Kafka transaction, whose end marker takes an offset: a
    # group that has read and committed everything must still owe nothing
    department.behaviours.clear()
    hub = HubProcess(
        home=make_home(tmp_path, routes_for(department)),
        data_dir=tmp_path / "var",
        env=backbone_env(request, "kafka"),
        args=["--processes", "3"],
    )
    key = hub.create_key("samr-reg")
    valid = sorted((SAMR_SAMPLES / "valid").glob("*.xml"))[0].read_bytes()
    hub.start(timeout=60)
    try:
        for _ in range(SENT):
            assert post(hub, key, valid).status_code == 202
        for endpoint in ("tax-bureau", "legal-entity-registry", "social-security"):
            wait_for(lambda e=endpoint: len(department.distinct_ids(e)) == SENT, timeout=60)

        def backlog() -> dict[tuple[str, str], float]:
            return {
                (dict(labels)["group"], dict(labels)["topic"]): v
                for (name, labels), v in scrape(hub).items()
                if name == "exchange_backlog_records"
            }

        wait_for(lambda: not any(backlog().values()), timeout=30)
        # router 1, indexer 2, documents (inbound and each deliver topic) 4, delivery 3 x 2
        assert len(backlog()) == 13
        samples = scrape(hub)
        assert value(samples, "exchange_backbone_reachable") == 1
        assert value(samples, "exchange_deliveries_delivered_total") == 3 * SENT
        assert value(samples, "exchange_backbone_publish_seconds_count", backbone="kafka") > 0
    finally:
        hub.stop()
