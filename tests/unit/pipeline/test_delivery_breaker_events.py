"""What delivery tells the console: each change of an endpoint's breaker, and on every
delivery event who sent what and how long it took from acceptance (real embedded backbone,
scripted egress)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from exchange.backbone import EmbeddedBackbone
from exchange.records.events import BreakerChanged, Delivered, Failed
from tests.unit.pipeline.test_pipeline_delivery import (
    ScriptedEgress,
    backbone,
    delivery,
    events_of,
    run_delivery,
    tax_bureau,
)

__all__ = ["backbone"]  # the fixture, shared with the delivery tests


async def test_each_breaker_change_is_published_with_the_last_error(
    backbone: EmbeddedBackbone, tmp_path: Path
) -> None:
    # Two failures open the breaker; after its cool-down the trial succeeds and closes it.
    ScriptedEgress.script = ["busy", "busy", "ok"]
    routes = tax_bureau(
        "http://127.0.0.1:9/tax",
        "{attempts: 5, initial_backoff: 0.05, max_backoff: 0.05, jitter: 0}",
        "{failures: 2, cooldown: 0.3}",
    )
    await backbone.publish([delivery(b"<doc/>")])
    stop = asyncio.Event()
    task = await run_delivery(backbone, tmp_path, stop, routes)
    for _ in range(100):
        if await events_of(backbone, Delivered):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 15)

    changes = await events_of(backbone, BreakerChanged)
    assert [c.state for c in changes] == ["closed", "open", "half-open", "closed"]
    assert {c.id for c in changes} == {"breaker:tax-bureau"}
    opened = changes[1]
    assert (opened.endpoint, opened.failures, opened.last_error) == ("tax-bureau", 2, "503 busy")
    assert changes[0].failures == 0 and changes[0].last_error is None


async def test_delivery_events_carry_the_sender_the_type_and_the_end_to_end_time(
    backbone: EmbeddedBackbone, tmp_path: Path
) -> None:
    ScriptedEgress.script = ["busy", "ok"]
    routes = tax_bureau("http://127.0.0.1:9/tax", "{attempts: 3, initial_backoff: 0.05}")
    await backbone.publish([delivery(b"<doc/>")])
    stop = asyncio.Event()
    task = await run_delivery(backbone, tmp_path, stop, routes)
    for _ in range(100):
        if await events_of(backbone, Delivered):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 15)

    (failed,) = await events_of(backbone, Failed)
    (delivered,) = await events_of(backbone, Delivered)
    for event in (failed, delivered):
        assert (event.sender, event.message_type) == ("samr-reg", "t")
    # From the envelope's creation (the front door's acceptance) to the delivery.
    assert delivered.e2e_ms is not None and 40 <= delivered.e2e_ms < 10_000
