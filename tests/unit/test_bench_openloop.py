"""The benchmark's open-loop scheduler, idle arithmetic and curve verdicts.

The scheduler is driven against a real HTTP server on 127.0.0.1 that answers slowly: an
open loop must keep issuing at the planned times whatever the answers do, and must count a
request's latency from its planned time when the sender itself was late.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bench import curve
from bench.machine import idle_share
from bench.openloop import plan, run_open_loop

SLOW_ANSWER = 0.3


@pytest.fixture
async def slow_url() -> AsyncIterator[str]:
    async def answer(_: web.Request) -> web.Response:
        await asyncio.sleep(SLOW_ANSWER)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


def test_plan_spaces_messages_at_the_rate() -> None:
    assert plan(4, 200.0) == [0.0, 0.005, 0.01, 0.015]
    with pytest.raises(ValueError, match="above 0"):
        plan(3, 0)


async def test_requests_go_out_on_plan_whatever_the_answers_do(slow_url: str) -> None:
    rate, count = 100.0, 20  # 0.2 s of sending; each answer takes 0.3 s
    latencies: dict[int, float] = {}
    async with aiohttp.ClientSession() as session:

        async def send(i: int, due: float) -> None:
            async with session.get(slow_url) as response:
                await response.read()
            latencies[i] = time.perf_counter() - due

        began = time.perf_counter()
        schedule = await run_open_loop(plan(count, rate), send)
        elapsed = time.perf_counter() - began

    # A closed loop on one connection would take count × 0.3 s; open, the sends overlap.
    assert elapsed < 0.2 + SLOW_ANSWER + 0.5
    assert len(schedule.issued) == count
    assert max(schedule.lags()) < 0.05  # started on time, not after an answer
    assert all(latency >= SLOW_ANSWER for latency in latencies.values())


async def test_latency_counts_from_the_plan_when_the_sender_was_late(slow_url: str) -> None:
    stall = 0.25
    latencies: dict[int, float] = {}
    async with aiohttp.ClientSession() as session:

        async def send(i: int, due: float) -> None:
            if i == 0:
                time.sleep(stall)  # the load generator itself stalls: its loop is blocked
            async with session.get(slow_url) as response:
                await response.read()
            latencies[i] = time.perf_counter() - due

        schedule = await run_open_loop(plan(10, 100.0), send)

    # Messages due during the stall were started late, all at once, and never skipped.
    lags = schedule.lags()
    assert len(lags) == 10
    assert lags[1] >= stall - 0.02
    # Their latency includes the time they waited to be sent: no coordinated omission.
    assert latencies[1] >= stall + SLOW_ANSWER - 0.02
    assert latencies[9] >= SLOW_ANSWER + stall - 0.09 - 0.02


def test_idle_share_leaves_out_our_own_processes() -> None:
    # 2 cores for 2 s = 4 s; 1.5 s busy, 1 s of it ours: others used 0.5 of the 3 s left.
    assert idle_share(4.0, 1.5, 1.0) == pytest.approx(1 - 0.5 / 3.0)
    assert idle_share(4.0, 0.5, 1.0) == 1.0  # our reading ran ahead of /proc/stat's
    assert idle_share(4.0, 4.0, 4.0) == 0.0


def _point(offered: float, ingress_p99: float, e2e_p99: float, idle: float) -> curve.Point:
    return curve.Point(offered, offered, 1.0, ingress_p99, 10.0, e2e_p99, idle)


def test_curve_judges_the_step_nearest_half_the_maximum() -> None:
    points = [_point(50, 5, 30, 0.95), _point(100, 10, 50, 0.95), _point(200, 90, 900, 0.95)]
    text = curve.table(points, maximum=210.0, min_idle=0.8)
    assert "offered 100.0/s" in text
    assert "ingress p99 10.0 ms = 0.50 × limit of 20 ms (met)" in text
    assert "50.0 ms = 0.50 × limit of 100 ms (met)" in text
    assert "NOT VALID" not in text
    busy = curve.table([*points[:2], _point(200, 90, 900, 0.4)], maximum=210.0, min_idle=0.8)
    assert "NOT VALID" in busy
    assert curve.rates(200.0) == [50.0, 100.0, 150.0, 180.0, 200.0]


def test_core_scaling_is_refused_on_a_busy_machine() -> None:
    assert "1.80 × (target 1.7 ×: met)" in curve.scaling(100.0, 180.0, [0.9, 0.9], 0.8)
    assert "missed" in curve.scaling(100.0, 150.0, [0.9, 0.9], 0.8)
    assert "NOT VALID" in curve.scaling(100.0, 180.0, [0.9, 0.5], 0.8)
