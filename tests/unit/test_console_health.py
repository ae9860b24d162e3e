"""The health page's judgements: disk space, Kafka topics' partitions, the loaded set's digest."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from exchange.console.health import rules_summary, stages
from exchange.console.health_probes import AMBER, GREEN, RED, disk_check, topic_health, worst
from exchange.routing import RoutingTable
from exchange.ruleset import RuleSet

REPO = Path(__file__).resolve().parents[2]


class Usage(NamedTuple):
    total: int
    used: int
    free: int


@pytest.mark.parametrize(
    ("free_share", "status", "says"),
    [(0.5, GREEN, ""), (0.05, AMBER, "getting full"), (0.01, RED, "almost full")],
)
def test_a_filling_disk_turns_amber_then_red(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, free_share: float, status: str, says: str
) -> None:
    total = 100 * 1024**3
    free = int(total * free_share)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: Usage(total, total - free, free))
    found, reason, figures = disk_check(tmp_path / "backbone.db", "embedded log")
    assert (found, figures["disk_free_bytes"], figures["disk_total_bytes"]) == (status, free, total)
    assert says in reason
    if status != GREEN:
        assert "free space" in reason  # and what to do about it


def partition(number: int, leader: int, replicas: list[int], isr: list[int]) -> dict[str, Any]:
    return {"partition": number, "leader": leader, "replicas": replicas, "isr": isr}


def test_kafka_topics_report_leaderless_and_lagging_partitions() -> None:
    healthy = topic_health(
        {"topic": "x.inbound", "error_code": 0, "partitions": [partition(0, 1, [1, 2], [1, 2])]}
    )
    assert healthy == {"name": "x.inbound", "present": True, "partitions": 1, "problems": []}
    troubled = topic_health(
        {
            "topic": "x.events",
            "error_code": 0,
            "partitions": [partition(0, -1, [1, 2], []), partition(1, 2, [1, 2], [2])],
        }
    )
    assert troubled["problems"] == [
        "partition 0 has no leader",
        "partition 1 has replicas out of sync",
    ]
    missing = topic_health({"topic": "x.retry.a", "error_code": 3, "partitions": []})
    assert (missing["present"], missing["partitions"]) == (False, 0)
    assert worst([GREEN, AMBER, GREEN]) == AMBER and worst([AMBER, RED]) == RED
    assert worst([]) == GREEN


def test_the_digest_names_the_loaded_set() -> None:
    demo = RuleSet.load(REPO)
    first = rules_summary(demo)
    assert first == rules_summary(RuleSet.load(REPO))  # the same files, the same digest
    fewer = replace(
        demo,
        routing=RoutingTable(
            endpoints=demo.routing.endpoints,
            routes=demo.routing.routes[:1],
            senders=demo.routing.senders,
        ),
    )
    changed = rules_summary(fewer)
    assert changed["digest"] != first["digest"]
    assert (first["routes"], changed["routes"]) == (2, 1)
    # the consumer groups whose lag each stage shows
    groups = {stage.name: stage.groups for stage in stages(demo)}
    assert groups["router"] == {"router": ["inbound"]}
    assert groups["delivery"]["delivery.tax-bureau"] == ["deliver.tax-bureau", "retry.tax-bureau"]
    assert groups["indexer"] == {"store-indexer": ["events", "dead-letters"]}
