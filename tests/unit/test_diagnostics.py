"""SIGUSR1 tells where every task of a hub process waits."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from exchange.diagnostics import dump_tasks_on_signal


async def _waits_for(event: asyncio.Event) -> None:
    await event.wait()


async def _stage(event: asyncio.Event) -> None:
    await _waits_for(event)


async def test_sigusr1_logs_the_chain_of_awaits_of_every_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()
    stage = asyncio.create_task(_stage(release), name="router")
    dump_tasks_on_signal()
    try:
        await asyncio.sleep(0.01)
        os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.sleep(0.05)
    finally:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGUSR1)
        release.set()
        await stage
    text = caplog.text
    assert "--- router" in text
    after = text.split("--- router", 1)[1]
    assert after.index("in _stage") < after.index("in _waits_for") < after.index("in wait")
