"""The hub on real Apache Kafka brokers under failure: a delivery worker killed with SIGKILL,
a broker restarted (cleanly and by SIGKILL) under traffic, and one broker of three stopped.

Each test counts what was accepted (202) and checks that every accepted message reached every
receiver (by distinct message id) without restarting the hub, and that the router and delivery
groups then commit everything (a restart would not deliver it again).  It prints the figures
(messages accepted, undelivered at the fault, duplicate calls per receiver, takeover and
recovery times) for the record: run with ``-s`` to see them."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from tests.harness import FakeDepartment, HubProcess, make_home, wait_for
from tests.integration.conftest import routes_for
from tests.kafka_cluster import start_cluster, three_node_cluster
from tests.kafka_workers import (
    ENDPOINTS,
    PeerTracker,
    Traffic,
    WorkerProcess,
    assignment_summary,
    assignments,
    child_pids,
    duplicates,
    endpoint_of,
    latest_by_endpoint,
    partition_leaders,
    pipeline_lag,
    sample_with_employees,
    undelivered,
)
from tools.kafka_broker import KafkaCluster

SESSION_TIMEOUT_MS = 6000
PARTITIONS = 4


def _kafka_env(bootstrap: str, prefix: str, **extra: str) -> dict[str, str]:
    return {
        "EXCHANGE_BACKBONE": f"kafka://{bootstrap}",
        "EXCHANGE_KAFKA_PREFIX": prefix,
        "EXCHANGE_KAFKA_PARTITIONS": str(PARTITIONS),
        "EXCHANGE_KAFKA_SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_MS),
        **extra,
    }


def _prefix() -> str:
    return f"failover-{uuid.uuid4().hex[:8]}."


def _all_delivered(dept: FakeDepartment, accepted: set[str]) -> bool:
    return not any(undelivered(dept, accepted).values())


def _wait_delivered(dept: FakeDepartment, accepted: set[str], timeout: float, why: str) -> None:
    try:
        wait_for(lambda: _all_delivered(dept, accepted), timeout=timeout, every=0.25)
    except AssertionError:
        missing = undelivered(dept, accepted)
        raise AssertionError(
            f"{why}: accepted messages never delivered within {timeout} s: {missing} of "
            f"{len(accepted)} per receiver"
        ) from None


def _wait_caught_up(bootstrap: str, prefix: str, timeout: float = 30) -> float:
    """Until the router and delivery groups have committed everything: nothing would be
    handled again after a restart. Returns the seconds it took."""
    started = time.monotonic()
    lag: dict[str, int] = {}

    def caught_up() -> bool:
        nonlocal lag
        lag = pipeline_lag(bootstrap, prefix, PARTITIONS)
        return not lag

    try:
        wait_for(caught_up, timeout=timeout, every=0.5)
    except AssertionError:
        raise AssertionError(
            f"records still uncommitted {timeout} s after everything was delivered (a restart "
            f"would handle them again): {lag}"
        ) from None
    return time.monotonic() - started


def _wait_received(
    dept: FakeDepartment, count: int, timeout: float, hub: HubProcess, prefix: str
) -> None:
    """Until the tax bureau (the slowest receiver) has ``count`` distinct messages."""
    try:
        wait_for(lambda: len(dept.distinct_ids("tax-bureau")) >= count, timeout=timeout)
    except AssertionError:
        got = len(dept.distinct_ids("tax-bureau"))
        raise AssertionError(
            f"tax-bureau received {got} messages, not {count}, within {timeout} s; "
            + assignment_summary(hub.log(), prefix + "delivery", prefix)
        ) from None


# --- 1. scale-out, and a delivery worker killed -------------------------------------------------


@pytest.mark.slow
def test_a_killed_delivery_worker_s_partitions_move_to_the_other(
    dept: FakeDepartment, tmp_path: Path, kafka_broker: KafkaCluster
) -> None:
    """Front door alone (``serve --processes 2``: its child runs router, indexer and
    delivery A), plus ``exchange worker delivery`` (B); B is killed with deliveries in flight
    and A takes its partitions over once B's session times out."""
    dept.reset()
    dept.delays.update({"tax-bureau": 0.5, "social-security": 0.2})
    prefix = _prefix()
    group = prefix + "delivery"
    hub = HubProcess(
        home=make_home(tmp_path, routes_for(dept)),
        data_dir=tmp_path / "var",
        env=_kafka_env(kafka_broker.bootstrap, prefix),
        args=["--processes", "2"],
    )
    key = hub.create_key("samr-reg")
    standby = WorkerProcess(hub, ("delivery",))
    labels = ("A (serve's worker)", "B (killed)")
    pids: dict[str, int] = {}
    tracker = PeerTracker(dept, pids)
    traffic = Traffic(hub.url, key, sample_with_employees(), prefix, threads=8, limit=300)
    try:
        hub.start()
        assert hub.process is not None
        serving = hub.process.pid
        wait_for(lambda: len(child_pids(serving)) == 1, timeout=10)
        (child,) = child_pids(serving)
        standby.start()

        def split_evenly() -> bool:
            # Stable when, for every endpoint, A's and B's newest assignments share the
            # endpoint's 8 partitions between them, half of each topic each: both deliver.
            mine = latest_by_endpoint(assignments(hub.log(), group), prefix)
            theirs = latest_by_endpoint(assignments(standby.log(), group), prefix)
            return all(
                name in mine
                and name in theirs
                and not mine[name] & theirs[name]
                and len(mine[name] | theirs[name]) == 2 * PARTITIONS
                and all(
                    Counter(topic[len(prefix) :].split(".")[0] for topic, _ in held[name])
                    == {"deliver": PARTITIONS // 2, "retry": PARTITIONS // 2}
                    for held in (mine, theirs)
                )
                for name in ENDPOINTS
            )

        try:
            wait_for(split_evenly, timeout=45, every=0.25)
        except AssertionError:
            raise AssertionError(
                "the two delivery workers never shared the partitions: A: "
                + assignment_summary(hub.log(), group, prefix)
                + "; B: "
                + assignment_summary(standby.log(), group, prefix)
            ) from None
        split = {
            name: tuple(
                sorted(
                    p
                    for t, p in latest_by_endpoint(assignments(log, group), prefix)[name]
                    if t.startswith(prefix + "deliver.")
                )
                for log in (hub.log(), standby.log())
            )
            for name in ENDPOINTS
        }
        pids.update(zip(labels, (child, standby.pid), strict=True))
        tracker.install()
        started = time.monotonic()
        traffic.start()
        traffic.wait_accepted(100, timeout=60)

        def both_delivering() -> bool:
            tracker.sample()
            calls = tracker.calls_by()
            return min(calls[label] for label in labels) >= 20

        wait_for(both_delivering, timeout=30)
        calls_before_kill = tracker.calls_by()
        accepted_at_kill = traffic.count()
        at_kill = undelivered(dept, set(traffic.accepted))
        killed_at = time.time()
        standby.kill()
        traffic.finish()
        accepted = set(traffic.accepted)
        _wait_delivered(dept, accepted, timeout=90, why="after the kill")
        elapsed = time.monotonic() - started
        _wait_caught_up(kafka_broker.bootstrap, prefix)
    finally:
        traffic.stop()
        tracker.stop()
        standby.stop()
        hub.stop()
    takeover: dict[str, float] = {}  # endpoint -> seconds from the kill until A held all 8
    for assignment in assignments(hub.log(), group):
        endpoint = endpoint_of(assignment, prefix)
        if endpoint and assignment.at >= killed_at and len(assignment.partitions) == 2 * PARTITIONS:
            takeover.setdefault(endpoint, round(assignment.at - killed_at, 1))
    print(
        f"\n[kill a delivery worker] accepted {len(accepted)} of 300 ({dict(traffic.statuses)}); "
        f"deliver.<endpoint> partitions (A, B) {split}; receiver calls by process before the "
        f"kill {dict(calls_before_kill)}; accepted at the kill {accepted_at_kill}, undelivered "
        f"then {at_kill}; duplicates {duplicates(dept)}, first copies sent by "
        f"{dict(tracker.duplicates_first_sent_by())}; seconds from the kill until A held all 8 "
        f"partitions {takeover}; {elapsed:.1f} s from first send "
        "to all delivered"
    )
    assert len(accepted) == 300, traffic.statuses
    assert at_kill["tax-bureau"] > 0, "nothing was in flight: the kill proved nothing"
    assert set(takeover) == set(ENDPOINTS), assignment_summary(hub.log(), group, prefix)
    assert hub.stopped_cleanly, hub.log()[-4000:]


# --- 2. a single broker restarted under traffic ---------------------------------------------------


@pytest.mark.slow
def test_every_accepted_message_is_delivered_across_broker_restarts(
    dept: FakeDepartment, tmp_path: Path
) -> None:
    """SIGTERM the only broker, start it again; later SIGKILL it and start it again: the hub
    (never restarted) takes submissions again once the broker is back and loses nothing it
    accepted.  (While the broker is down a submission waits for it: see the report's
    slowest answer; a 503 would be allowed and is not counted.)"""
    dept.reset()
    dept.delays["tax-bureau"] = 0.1
    cluster = start_cluster(tmp_path / "kafka-1")
    prefix = _prefix()
    hub = HubProcess(
        home=make_home(tmp_path, routes_for(dept)),
        data_dir=tmp_path / "var",
        env=_kafka_env(cluster.bootstrap, prefix),
    )
    traffic: Traffic | None = None
    report: dict[str, object] = {}
    try:
        key = hub.create_key("samr-reg")
        hub.start()
        traffic = Traffic(hub.url, key, sample_with_employees(), "restart", threads=4, timeout=20)
        traffic.start()
        for fault, act in (("SIGTERM", cluster.stop_node), ("SIGKILL", cluster.kill_node)):
            # Fault only once deliveries flow: then some are under way when the broker goes.
            _wait_received(dept, len(dept.distinct_ids("tax-bureau")) + 20, 60, hub, prefix)
            report[f"undelivered at {fault}"] = undelivered(dept, set(traffic.accepted))
            down = time.monotonic()
            act(0)
            time.sleep(3)
            cluster.start_node(0)
            back = time.monotonic()
            count, received = traffic.count(), len(dept.distinct_ids("tax-bureau"))
            traffic.wait_accepted(count + 1, timeout=90)
            accepting = time.monotonic() - back
            _wait_received(dept, received + 1, 90, hub, prefix)
            report[f"{fault}: broker down for / then 202 again in / delivery again in"] = (
                f"{back - down:.1f} s / {accepting:.1f} s / {time.monotonic() - back:.1f} s"
            )
        traffic.stop()
        accepted = set(traffic.accepted)
        _wait_delivered(dept, accepted, timeout=90, why="after two broker restarts")
        report["commits caught up in"] = f"{_wait_caught_up(cluster.bootstrap, prefix):.1f} s"
    finally:
        if traffic is not None:
            traffic.stop()
        hub.stop()
        cluster.stop()
    print(
        f"\n[broker restarts] accepted {len(accepted)}, answers {dict(traffic.statuses)}, "
        f"client errors {dict(traffic.errors)}, slowest answer {traffic.slowest:.1f} s; {report}; "
        f"duplicates {duplicates(dept)}; "
        f"hub stopped cleanly: {hub.stopped_cleanly}"
    )


# --- 3. one broker of three stopped ---------------------------------------------------------------


@pytest.mark.slow
def test_one_broker_of_three_stopped_under_traffic(dept: FakeDepartment, tmp_path: Path) -> None:
    """Replication 3, min.insync.replicas 2: with the leader of inbound[0] stopped (SIGTERM)
    the hub keeps accepting and delivering; the broker then comes back."""
    dept.reset()
    dept.delays["tax-bureau"] = 0.1
    prefix = _prefix()
    with three_node_cluster(tmp_path) as cluster:
        hub = HubProcess(
            home=make_home(tmp_path, routes_for(dept)),
            data_dir=tmp_path / "var",
            env=_kafka_env(cluster.bootstrap, prefix, EXCHANGE_KAFKA_REPLICATION_FACTOR="3"),
        )
        traffic: Traffic | None = None
        try:
            key = hub.create_key("samr-reg")
            hub.start()
            body = sample_with_employees()
            traffic = Traffic(hub.url, key, body, "three-a", threads=4, timeout=20).start()
            _wait_received(dept, 20, 60, hub, prefix)  # deliveries flow: some are under way
            victim = partition_leaders(cluster.bootstrap, prefix + "inbound")[0]
            at_stop = undelivered(dept, set(traffic.accepted))
            count = traffic.count()
            stopping = time.monotonic()
            cluster.stop_node(victim)
            stop_took = time.monotonic() - stopping
            traffic.wait_accepted(count + 60, timeout=60)
            traffic.stop()
            accepted = set(traffic.accepted)
            _wait_delivered(dept, accepted, timeout=60, why="with one broker of three down")
            leaders_while_down = partition_leaders(cluster.bootstrap, prefix + "inbound")
            cluster.start_node(victim)
            more = Traffic(hub.url, key, body, "three-b", threads=4, limit=40, timeout=20)
            more.start()
            more.finish()
            accepted |= more.accepted
            _wait_delivered(dept, accepted, timeout=60, why="after the broker came back")
            _wait_caught_up(cluster.bootstrap, prefix)
        finally:
            if traffic is not None:
                traffic.stop()
            hub.stop()
    print(
        f"\n[one broker of three] stopped node {victim} (led inbound[0]; SIGTERM took "
        f"{stop_took:.1f} s); inbound leaders while down {leaders_while_down}; accepted "
        f"{len(accepted)}, answers {dict(traffic.statuses)} + {dict(more.statuses)}, client "
        f"errors {dict(traffic.errors)}, slowest answer {traffic.slowest:.1f} s; undelivered "
        f"at the stop {at_stop}; duplicates {duplicates(dept)}"
    )
    assert victim not in leaders_while_down.values()
    assert more.statuses[202] == 40, more.statuses
