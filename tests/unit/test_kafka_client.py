"""Where the Kafka client's habits meet the hub's stages: a close that ignores cancellation
does not hold a stage, and a future the client cancels does not end a stage silently."""

from __future__ import annotations

import asyncio
import time

import pytest

from exchange.backbone import kafka_client
from exchange.errors import BackboneError


async def test_a_close_that_ignores_cancellation_is_left_behind(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(kafka_client, "CLOSE_SECONDS", 0.2)
    release = asyncio.Event()

    async def stubborn_close() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # as a shielded wait would: the cancel does not end it

    started = time.monotonic()
    await kafka_client.within(stubborn_close(), "the stubborn client")
    assert time.monotonic() - started < 1.0
    assert "the stubborn client did not close within 0.2 s" in caplog.text
    assert len(kafka_client._left_behind) == 1
    release.set()
    await asyncio.sleep(0.05)
    assert not kafka_client._left_behind  # forgotten once it ends


async def test_a_close_that_fails_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    async def failing_close() -> None:
        raise RuntimeError("connection reset")

    with pytest.raises(RuntimeError, match="connection reset"):
        await kafka_client.within(failing_close(), "the client")


async def test_a_future_the_client_cancels_is_a_backbone_error() -> None:
    inner: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.01, inner.cancel)  # as aiokafka does on a reset
    with pytest.raises(BackboneError, match="cut off by the Kafka client"):
        async with kafka_client.no_stray_cancel("a commit"):
            await inner


async def test_a_real_cancellation_or_time_out_passes_through() -> None:
    async def waits() -> None:
        async with kafka_client.no_stray_cancel("a fetch"):
            await asyncio.Event().wait()

    task = asyncio.create_task(waits())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01), kafka_client.no_stray_cancel("a transaction"):
            await asyncio.Event().wait()
