"""A stage that fails, or has a call cancelled under it, starts again; a stop ends it."""

from __future__ import annotations

import asyncio

import pytest

from exchange.pipeline import restart
from exchange.pipeline.restart import run_until_stopped


async def test_failures_and_stray_cancellations_restart_the_stage(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(restart, "RESTART_SECONDS", 0.01)
    stop = asyncio.Event()
    runs: list[int] = []

    async def stage(stop: asyncio.Event) -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("broker went away")
        if len(runs) == 2:  # a future the library cancels, not the stage's task
            inner: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            inner.cancel()
            await inner
        await stop.wait()

    task = asyncio.create_task(run_until_stopped("router worker", stage, stop))
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert runs == [0, 1, 2]
    assert "router worker failed; restarting" in caplog.text
    assert "router worker: a call was cancelled under it; restarting" in caplog.text


async def test_a_real_cancellation_ends_it() -> None:
    task = asyncio.create_task(run_until_stopped("indexer worker", _forever, asyncio.Event()))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _forever(stop: asyncio.Event) -> None:
    await stop.wait()
