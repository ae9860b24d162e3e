"""Delivery on a real (embedded) backbone with a scripted egress: what gets committed when."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from exchange.backbone import EmbeddedBackbone, Record
from exchange.backbone.base import Consumer
from exchange.backbone.claims import CLAIM_ERROR
from exchange.backbone.topics import DEAD_LETTERS, delivery_topic, retry_topic
from exchange.catalog import Catalog
from exchange.egress import EgressRegistry
from exchange.egress.base import Egress, EndpointUnavailable, Outbound, Receipt
from exchange.envelope import Envelope
from exchange.errors import BackboneError
from exchange.pipeline.deadletter import H_REASON
from exchange.pipeline.delivery import GROUP, H_ATTEMPT, H_DUE, Delivery, EndpointDelivery
from tests.harness import make_home

ROUTES = """endpoints:
  - name: tax-bureau
    url: "http://127.0.0.1:9/tax"
    format: tax.TaxpayerRegistration
    retry: {attempts: 3, initial_backoff: 30, jitter: 0}
"""
GROUP_OF_TAX = f"{GROUP}.tax-bureau"
ENDPOINTS = ("tax-bureau", "social-security")


class ScriptedEgress(Egress):
    """Answers each send as ``script`` says: "ok", "busy" (retriable) or "hang"."""

    kind: ClassVar[str] = "rest"
    script: ClassVar[list[str]] = []
    sent: ClassVar[list[Outbound]] = []
    started: ClassVar[asyncio.Event]

    async def send(self, outbound: Outbound) -> Receipt:
        ScriptedEgress.sent.append(outbound)
        ScriptedEgress.started.set()
        step = ScriptedEgress.script.pop(0) if ScriptedEgress.script else "ok"
        if step == "hang":
            await asyncio.Event().wait()
        if step == "busy":
            raise EndpointUnavailable("503 busy", endpoint="tax-bureau", url="x", status=503)
        return Receipt(status=200, detail="ok", elapsed=0.001)


@pytest.fixture
async def backbone(tmp_path: Path) -> AsyncIterator[EmbeddedBackbone]:
    ScriptedEgress.script, ScriptedEgress.sent = [], []
    ScriptedEgress.started = asyncio.Event()
    backbone = EmbeddedBackbone(tmp_path / "backbone.db")
    await backbone.start()
    yield backbone
    await backbone.close()


async def run_delivery(
    backbone: EmbeddedBackbone, tmp_path: Path, until: asyncio.Event
) -> asyncio.Task[None]:
    catalog = Catalog.load(make_home(tmp_path, ROUTES))
    egress = EgressRegistry({"rest": ScriptedEgress}, load_entry_points=False)
    await egress.start()
    worker = EndpointDelivery("tax-bureau", backbone, egress, lambda: catalog, concurrency=4)
    return asyncio.create_task(worker.run(until))


def delivery(value: bytes = b"<doc/>", **extra: str) -> Record:
    headers = {**Envelope.new(sender="samr-reg", message_type="t").to_headers(), **extra}
    return Record(delivery_topic("tax-bureau"), value, headers=headers)


async def test_a_delivery_cut_off_by_a_stop_is_not_committed(
    backbone: EmbeddedBackbone, tmp_path: Path
) -> None:
    ScriptedEgress.script = ["hang"]
    await backbone.publish([delivery()])
    stop = asyncio.Event()
    task = await run_delivery(backbone, tmp_path, stop)
    await asyncio.wait_for(ScriptedEgress.started.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 15)
    again = await backbone.consumer(GROUP_OF_TAX, [delivery_topic("tax-bureau")])
    assert [r.value for r in await again.fetch(timeout=2)] == [b"<doc/>"]


async def test_a_retriable_failure_is_rescheduled_on_the_retry_topic(
    backbone: EmbeddedBackbone, tmp_path: Path
) -> None:
    ScriptedEgress.script = ["busy"]
    await backbone.publish([delivery()])
    stop = asyncio.Event()
    task = await run_delivery(backbone, tmp_path, stop)
    retries = await backbone.consumer("test", [retry_topic("tax-bureau")])
    (retry,) = await retries.fetch(timeout=5)
    stop.set()
    await asyncio.wait_for(task, 15)
    assert retry.headers[H_ATTEMPT] == "2"
    assert float(retry.headers[H_DUE]) == pytest.approx(time.time() + 30, abs=5)
    assert retry.value == b"<doc/>"
    # The first try is committed with it: a restart does not send it again as attempt 1.
    again = await backbone.consumer(GROUP_OF_TAX, [delivery_topic("tax-bureau")])
    assert await again.fetch(timeout=0.5) == []
    assert [o.attempt for o in ScriptedEgress.sent] == [1]


async def test_a_due_retry_is_sent_with_its_attempt_number(
    backbone: EmbeddedBackbone, tmp_path: Path
) -> None:
    due = f"{time.time() + 0.3:.3f}"
    await backbone.publish(
        [
            Record(
                retry_topic("tax-bureau"),
                b"<doc/>",
                headers={**delivery().headers, H_ATTEMPT: "3", H_DUE: due},
            )
        ]
    )
    stop = asyncio.Event()
    task = await run_delivery(backbone, tmp_path, stop)
    await asyncio.wait_for(ScriptedEgress.started.wait(), 5)
    sent_at = time.time()
    stop.set()
    await asyncio.wait_for(task, 15)
    assert [o.attempt for o in ScriptedEgress.sent] == [3]
    assert sent_at >= float(due) - 0.01


async def test_an_unredeemable_claim_check_is_dead_lettered_unsent(
    backbone: EmbeddedBackbone, tmp_path: Path
) -> None:
    await backbone.publish([delivery(b"", **{CLAIM_ERROR: "the payload does not match its hash"})])
    stop = asyncio.Event()
    task = await run_delivery(backbone, tmp_path, stop)
    dead = await backbone.consumer("test", [DEAD_LETTERS])
    (letter,) = await dead.fetch(timeout=5)
    stop.set()
    await asyncio.wait_for(task, 15)
    assert letter.headers[H_REASON] == "the payload does not match its hash"
    assert ScriptedEgress.sent == []


class FailsOnceBackbone(EmbeddedBackbone):
    """Refuses the first consumer of one group, as Kafka may while a broker restarts."""

    failing_group = f"{GROUP}.tax-bureau"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.made: Counter[str] = Counter()

    async def consumer(self, group: str, topics: Sequence[str]) -> Consumer:
        self.made[group] += 1
        if group == self.failing_group and self.made[group] == 1:
            raise BackboneError("cannot join consumer group: coordinator not available")
        return await super().consumer(group, topics)


async def test_a_failed_endpoint_starts_again_alone(tmp_path: Path) -> None:
    """One endpoint's delivery fails: it starts again after a second, and the other
    endpoint's delivery goes on with its one consumer (no second member in its group)."""
    ScriptedEgress.script, ScriptedEgress.sent = [], []
    ScriptedEgress.started = asyncio.Event()
    routes = (
        ROUTES
        + """  - name: social-security
    url: "http://127.0.0.1:9/social"
    format: hrss.EmployerRegistration
"""
    )
    catalog = Catalog.load(make_home(tmp_path, routes))
    egress = EgressRegistry({"rest": ScriptedEgress}, load_entry_points=False)
    await egress.start()
    backbone = FailsOnceBackbone(tmp_path / "backbone.db")
    await backbone.start()
    headers = Envelope.new(sender="samr-reg", message_type="t").to_headers()
    await backbone.publish(
        [Record(delivery_topic(name), b"<doc/>", headers=headers) for name in ENDPOINTS]
    )
    stop = asyncio.Event()
    task = asyncio.create_task(Delivery(backbone, egress, lambda: catalog, 4).run(stop))
    try:
        async with asyncio.timeout(10):
            while len({o.endpoint.name for o in ScriptedEgress.sent}) < 2:
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await backbone.close()
    assert backbone.made == {f"{GROUP}.tax-bureau": 2, f"{GROUP}.social-security": 1}
