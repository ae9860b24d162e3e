"""The console's overview API against a real hub in three processes, on each backbone: the
figures count what was sent, the breaker of a failing receiver shows open (it lives in the
delivery process), the live stream ticks and does not hold a stopping hub up."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.harness import SAMR_SAMPLES, FakeDepartment, HubProcess, make_home, wait_for
from tests.integration.conftest import backbone_env, routes_for

pytestmark = pytest.mark.slow

SAMPLE = SAMR_SAMPLES / "valid" / "nanning-qinghe-data-technology.xml"
ENDPOINTS = ("legal-entity-registry", "social-security", "tax-bureau")
QUICK_RETRY = "{attempts: 3, initial_backoff: 0.05, max_backoff: 0.2}"
# The tax bureau: many tries to spare, a breaker that opens after 3 failures in a row and
# tries again 2 s later.
TAX_LIMITS = (
    "{attempts: 50, initial_backoff: 0.05, max_backoff: 0.2}\n"
    "    breaker: {failures: 3, cooldown: 2}"
)


@pytest.fixture(scope="module")
def dept() -> Iterator[FakeDepartment]:
    department = FakeDepartment().start()
    yield department
    department.stop()


def _start(
    tmp: Path, dept: FakeDepartment, env: dict[str, str]
) -> tuple[HubProcess, httpx.Client, str]:
    routes = routes_for(dept).replace(QUICK_RETRY, TAX_LIMITS, 1)  # the first is the tax bureau
    hub = HubProcess(
        home=make_home(tmp, routes), data_dir=tmp / "var", env=env, args=["--processes", "3"]
    )
    hub.start()
    try:
        sender_key = hub.create_key("samr-reg")
        operator_key = hub.create_key("duty-officer", operator=True)
        client = httpx.Client(base_url=hub.url, timeout=10)
        signed = client.post("/console/api/session", json={"key": operator_key})
        assert signed.status_code == 200, signed.text
    except BaseException:
        hub.stop()  # the fixture's teardown does not run for a failed setup
        raise
    return hub, client, sender_key


@pytest.fixture(scope="module", params=["embedded", "kafka"])
def running(
    request: pytest.FixtureRequest, dept: FakeDepartment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[HubProcess, httpx.Client, str]]:
    """A hub on each backbone in turn (the backlog is the embedded log's or Kafka's lag)."""
    env = backbone_env(request, request.param)
    hub, client, key = _start(tmp_path_factory.mktemp("overview"), dept, env)
    try:
        yield hub, client, key
    finally:
        client.close()
        hub.stop()


def _send(hub: HubProcess, key: str, prefix: str, count: int) -> None:
    for n in range(count):
        answer = httpx.post(
            f"{hub.url}/v1/messages",
            content=SAMPLE.read_bytes(),
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/xml",
                "X-Exchange-Message-Id": f"{prefix}-{n}",
            },
        )
        assert answer.status_code == 202, answer.text


def _overview(client: httpx.Client) -> dict[str, Any]:
    answer = client.get("/console/api/overview")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _endpoint(overview: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [e for e in overview["endpoints"] if e["name"] == name]
    return found


def test_the_figures_count_what_was_sent(
    running: tuple[HubProcess, httpx.Client, str], dept: FakeDepartment
) -> None:
    hub, client, key = running
    dept.reset()
    _send(hub, key, "counted", 10)

    wait_for(lambda: _overview(client)["hub"]["hour"]["delivered"] >= 30, timeout=30)
    # The backlog is sampled once a second: the sample after the last commit says 0.
    wait_for(lambda: _overview(client)["hub"]["backlog"] == 0, timeout=10)
    overview = _overview(client)
    hour = overview["hub"]["hour"]
    assert (hour["accepted"], hour["delivered"], hour["failed"], hour["dead_lettered"]) == (
        10,
        30,
        0,
        0,
    )
    assert overview["hub"]["minute"]["accepted"] == 10
    ingress = hour["latency_ms"]["ingress"]
    assert ingress["p50"] is not None and 0 < ingress["p50"] <= ingress["p99"] < 10_000
    assert overview["hub"]["minute"]["rate"] == pytest.approx(10 / 60, abs=0.05)
    assert [e["name"] for e in overview["endpoints"]] == list(ENDPOINTS)
    for name in ENDPOINTS:
        endpoint = _endpoint(overview, name)
        assert endpoint["hour"]["delivered"] == 10, name
        latency = endpoint["hour"]["latency_ms"]["e2e"]
        assert latency["p50"] is not None and 0 < latency["p50"] <= latency["p99"] < 30_000
        assert endpoint["breaker"]["state"] == "closed"
        assert endpoint["backlog"] == {"deliver": 0, "retry": 0, "total": 0}
        assert endpoint["oldest_undelivered_s"] is None
        assert endpoint["routes"] == ["registration-fan-out"]
    (route,) = overview["routes"]
    assert route["name"] == "registration-fan-out" and route["hour"]["delivered"] == 30

    series = client.get("/console/api/series", params={"range": "15m"}).json()
    assert series["step_s"] == 1 and len(series["t"]) == len(series["accepted"]) >= 900
    assert (sum(series["accepted"]), sum(series["delivered"])) == (10, 30)
    assert sum(series["endpoints"]["tax-bureau"]["delivered"]) == 10
    assert any(v is not None for v in series["latency_ms"]["p95"])
    day = client.get("/console/api/series", params={"range": "24h"}).json()
    assert day["step_s"] == 300 and sum(day["delivered"]) == 30


def test_the_api_needs_a_session_and_a_known_range(
    running: tuple[HubProcess, httpx.Client, str],
) -> None:
    hub, client, _ = running
    for path in ("/console/api/overview", "/console/api/series", "/console/api/live"):
        refused = httpx.get(hub.url + path, timeout=5)
        assert refused.status_code == 401, path
    wrong = client.get("/console/api/series", params={"range": "2w"})
    assert wrong.status_code == 400
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert "15m" in wrong.json()["detail"]


def test_a_failing_receiver_opens_its_breaker_and_the_overview_says_so(
    running: tuple[HubProcess, httpx.Client, str], dept: FakeDepartment
) -> None:
    hub, client, key = running
    dept.reset()
    dept.behaviours["tax-bureau"] = lambda _request, _n: web.Response(
        status=503, text="down for maintenance"
    )
    _send(hub, key, "refused", 4)

    def tax() -> dict[str, Any]:
        return _endpoint(_overview(client), "tax-bureau")

    wait_for(lambda: tax()["breaker"]["state"] == "open", timeout=30)
    endpoint = tax()
    assert endpoint["breaker"]["failures"] >= 3
    assert "503" in (endpoint["breaker"]["last_error"] or "")
    wait_for(lambda: tax()["hour"]["failed"] >= 3, timeout=10)
    # The deliveries wait for the breaker: not delivered (the store), not committed (the
    # backbone, sampled once a second).
    wait_for(lambda: tax()["oldest_undelivered_s"] is not None, timeout=10)
    wait_for(lambda: tax()["backlog"]["total"] >= 1, timeout=10)
    overview = _overview(client)
    assert overview["hub"]["open_breakers"] == 1
    assert _endpoint(overview, "social-security")["breaker"]["state"] == "closed"

    dept.behaviours.clear()  # the receiver is back: the next trial closes the breaker
    wait_for(lambda: tax()["breaker"]["state"] == "closed", timeout=30)
    wait_for(lambda: tax()["oldest_undelivered_s"] is None, timeout=30)
    assert len(dept.distinct_ids("tax-bureau")) == 4


def test_the_live_stream_ticks_and_ends_when_the_hub_stops(
    running: tuple[HubProcess, httpx.Client, str],
) -> None:
    # Last in this module: it stops the module's hub.
    hub, client, _ = running
    ticks: list[dict[str, Any]] = []
    arrived: list[float] = []
    ended = threading.Event()

    def listen() -> None:
        try:
            with client.stream("GET", "/console/api/live", timeout=60) as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                for line in stream.iter_lines():
                    if line.startswith("data: "):
                        ticks.append(json.loads(line[len("data: ") :]))
                        arrived.append(time.monotonic())
        except httpx.HTTPError:
            pass  # the hub closed it
        finally:
            ended.set()

    listener = threading.Thread(target=listen, daemon=True)
    try:
        listener.start()
        wait_for(lambda: len(ticks) >= 3, timeout=15)
        assert {"overview", "seconds", "backlog", "at"} <= ticks[-1].keys()
        assert len({t["at"] for t in ticks}) == len(ticks)  # a fresh figure each time
        assert arrived[2] - arrived[0] > 0.5  # one a second (two seconds apart), not a burst
        assert set(ticks[-1]["backlog"]) == set(ENDPOINTS)

        started = time.monotonic()
        hub.stop()
        # Without the stream closed at shutdown the server would wait out its 10 s grace.
        assert time.monotonic() - started < 5
        assert hub.stopped_cleanly
        assert ended.wait(5)
    finally:
        hub.stop()
        listener.join(5)
