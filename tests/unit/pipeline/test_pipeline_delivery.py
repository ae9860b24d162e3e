"""Delivery on a real (embedded) backbone with a scripted egress: what gets committed when."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import ClassVar, TypeVar

import pytest
from aiohttp import web

from exchange.backbone import EmbeddedBackbone, Record
from exchange.backbone.base import ConsumedRecord, Consumer
from exchange.backbone.topics import DEAD_LETTERS, EVENTS, delivery_topic, retry_topic
from exchange.egress import EgressRegistry
from exchange.egress.base import Egress, EndpointUnavailable, Outbound, Receipt
from exchange.envelope import Envelope
from exchange.errors import BackboneError
from exchange.pipeline.deadletter import from_record
from exchange.pipeline.delivery import GROUP, Delivery, EndpointDelivery
from exchange.pipeline.replay import replay
from exchange.records import headers as h
from exchange.records.events import DeadLettered, Event, Failed, decode
from exchange.ruleset import RuleSet
from exchange.store import Store
from tests.harness import free_port, make_home

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
    backbone: EmbeddedBackbone,
    tmp_path: Path,
    until: asyncio.Event,
    routes: str = ROUTES,
    egress: EgressRegistry | None = None,
) -> asyncio.Task[None]:
    """The tax bureau's delivery, through ``egress`` (default: the scripted one)."""
    rules = RuleSet.load(make_home(tmp_path, routes))
    if egress is None:
        egress = EgressRegistry({"rest": ScriptedEgress}, load_entry_points=False)
        await egress.start()
    worker = EndpointDelivery("tax-bureau", backbone, egress, lambda: rules, concurrency=4)
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
    assert retry.headers[h.NEXT_ATTEMPT] == "2"
    # Not the name of the HTTP header that tells a receiver which try it is getting.
    assert "x-exchange-attempt" not in retry.headers
    assert float(retry.headers[h.RETRY_AT]) == pytest.approx(time.time() + 30, abs=5)
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
                headers={**delivery().headers, h.NEXT_ATTEMPT: "3", h.RETRY_AT: due},
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


async def test_a_retry_written_by_an_earlier_version_keeps_its_attempt_number(
    backbone: EmbeddedBackbone, tmp_path: Path
) -> None:
    """A retry still on the backbone across an upgrade: its next attempt under the old name."""
    ScriptedEgress.script = ["busy"]
    old = {**delivery().headers, "x-exchange-attempt": "2", h.RETRY_AT: f"{time.time():.3f}"}
    await backbone.publish([Record(retry_topic("tax-bureau"), b"<doc/>", headers=old)])
    stop = asyncio.Event()
    task = await run_delivery(backbone, tmp_path, stop)
    retries = await backbone.consumer("test", [retry_topic("tax-bureau")])
    (_, again) = await collect(retries, 2, 5)
    stop.set()
    await asyncio.wait_for(task, 15)
    assert [o.attempt for o in ScriptedEgress.sent] == [2]
    assert again.headers[h.NEXT_ATTEMPT] == "3"
    assert "x-exchange-attempt" not in again.headers


async def test_an_unredeemable_claim_check_is_dead_lettered_unsent(
    backbone: EmbeddedBackbone, tmp_path: Path
) -> None:
    await backbone.publish(
        [delivery(b"", **{h.CLAIM_ERROR: "the payload does not match its hash"})]
    )
    stop = asyncio.Event()
    task = await run_delivery(backbone, tmp_path, stop)
    dead = await backbone.consumer("test", [DEAD_LETTERS])
    (letter,) = await dead.fetch(timeout=5)
    stop.set()
    await asyncio.wait_for(task, 15)
    assert letter.headers[h.DEAD_LETTER_REASON] == "the payload does not match its hash"
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
    rules = RuleSet.load(make_home(tmp_path, routes))
    egress = EgressRegistry({"rest": ScriptedEgress}, load_entry_points=False)
    await egress.start()
    backbone = FailsOnceBackbone(tmp_path / "backbone.db")
    await backbone.start()
    headers = Envelope.new(sender="samr-reg", message_type="t").to_headers()
    await backbone.publish(
        [Record(delivery_topic(name), b"<doc/>", headers=headers) for name in ENDPOINTS]
    )
    stop = asyncio.Event()
    task = asyncio.create_task(Delivery(backbone, egress, lambda: rules, 4).run(stop))
    try:
        async with asyncio.timeout(10):
            while len({o.endpoint.name for o in ScriptedEgress.sent}) < 2:
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await backbone.close()
    assert backbone.made == {f"{GROUP}.tax-bureau": 2, f"{GROUP}.social-security": 1}


# --- a receiver that is down: retry.max_age and the endpoint's breaker settings ---------


def tax_bureau(url: str, retry: str, breaker: str = "{}") -> str:
    return f"""endpoints:
  - name: tax-bureau
    url: "{url}"
    format: tax.TaxpayerRegistration
    timeout: 2
    retry: {retry}
    breaker: {breaker}
"""


async def collect(consumer: Consumer, count: int, timeout: float) -> list[ConsumedRecord]:
    """Records as they come, until ``count`` came or ``timeout`` seconds passed."""
    found: list[ConsumedRecord] = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        found += await consumer.fetch(timeout=0.1)
    return found


E = TypeVar("E", bound=Event)


async def events_of(backbone: EmbeddedBackbone, kind: type[E]) -> list[E]:
    """Every event of ``kind`` published so far (read by a group of its own)."""
    reader = await backbone.consumer(f"test-events-{uuid.uuid4()}", [EVENTS])
    try:
        every = await collect(reader, 10_000, 0.5)
    finally:
        await reader.close()
    decoded = [decode(r.value) for r in every]
    return [e for e in decoded if isinstance(e, kind)]


@pytest.fixture
async def rest_egress() -> AsyncIterator[EgressRegistry]:
    """The real REST egress (aiohttp), as the hub runs it."""
    registry = EgressRegistry(load_entry_points=False)
    await registry.start(["rest"])
    yield registry
    await registry.close()


async def test_a_receiver_that_is_down_has_every_delivery_dead_lettered_at_its_max_age(
    backbone: EmbeddedBackbone, tmp_path: Path, rest_egress: EgressRegistry
) -> None:
    """Nothing listens on the port (connection refused); the breaker opens after two failures
    and most deliveries wait for it, none past retry.max_age: all are dead-lettered by then,
    with the reason naming the max age and the receiver's last error, though each had
    attempts to spare."""
    url = f"http://127.0.0.1:{free_port()}/tax"
    routes = tax_bureau(
        url,
        "{attempts: 100, initial_backoff: 0.05, max_backoff: 0.2, max_age: 1.5}",
        "{failures: 2, cooldown: 0.4}",
    )
    sent = [delivery(f"<doc n='{n}'/>".encode()) for n in range(30)]
    await backbone.publish(sent)
    published = time.time()
    stop = asyncio.Event()
    task = await run_delivery(backbone, tmp_path, stop, routes, rest_egress)
    dead = await backbone.consumer("test", [DEAD_LETTERS])
    try:
        letters = await collect(dead, len(sent), timeout=6)
        finished = time.time()
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    assert len(letters) == len(sent), f"{len(letters)} of {len(sent)} dead-lettered in 6 s"
    assert sorted(r.value for r in letters) == sorted(r.value for r in sent)
    assert finished - published < 1.5 + 2.0
    reasons = [r.headers[h.DEAD_LETTER_REASON] for r in letters]
    for reason in reasons:
        assert "retry.max_age of 1.5 s" in reason, reason
        assert "connection failed" in reason, reason
        assert reason.endswith("replay once the receiver is back"), reason
    # Most never got a try of their own: they waited for the open breaker.
    assert sum("receiver unreachable" in r and "circuit open since" in r for r in reasons) > 20
    # None was given up before its max age (less the last back-off it would have waited).
    for letter in letters:
        assert letter.timestamp - published > 1.5 - 0.25
    # The dead letters start afresh if replayed: no schedule headers.
    assert not h.SCHEDULE & {name for r in letters for name in r.headers}
    tried = [e.attempt for e in await events_of(backbone, DeadLettered)]
    assert len(tried) == len(sent)
    assert sum(isinstance(n, int) and n >= 1 for n in tried) >= 1
    assert all(isinstance(n, int) and 0 <= n < 100 for n in tried)


async def test_a_receiver_back_before_max_age_gets_every_delivery(
    backbone: EmbeddedBackbone, tmp_path: Path, rest_egress: EgressRegistry
) -> None:
    """Down for a second, then up: the waiting deliveries all go through, none is
    dead-lettered, and they follow the successful trial at once, not a cool-down later."""
    port = free_port()
    routes = tax_bureau(
        f"http://127.0.0.1:{port}/tax",
        "{attempts: 100, initial_backoff: 0.05, max_backoff: 0.2, max_age: 10}",
        "{failures: 2, cooldown: 0.3}",
    )
    sent = [delivery(f"<doc n='{n}'/>".encode()) for n in range(20)]
    await backbone.publish(sent)
    received: list[bytes] = []

    async def inbox(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/tax", inbox)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    task = await run_delivery(backbone, tmp_path, stop, routes, rest_egress)
    try:
        await asyncio.sleep(1.0)  # refused meanwhile: the breaker opens, deliveries wait
        assert received == []
        await web.TCPSite(runner, "127.0.0.1", port).start()
        up = time.monotonic()
        async with asyncio.timeout(5):
            while len(received) < len(sent):
                await asyncio.sleep(0.05)
        took = time.monotonic() - up
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await runner.cleanup()
    assert sorted(received) == sorted(r.value for r in sent)
    assert took < 1.5
    assert await collect(await backbone.consumer("test", [DEAD_LETTERS]), 1, 0.3) == []
    failed = await events_of(backbone, Failed)
    assert failed and all(e.retrying for e in failed)


async def test_every_retry_carries_the_time_its_delivery_started(
    backbone: EmbeddedBackbone, tmp_path: Path
) -> None:
    ScriptedEgress.script = ["busy", "busy"]
    routes = tax_bureau("http://127.0.0.1:9/tax", "{attempts: 3, initial_backoff: 0.05, jitter: 0}")
    await backbone.publish([delivery()])
    reader = await backbone.consumer("first", [delivery_topic("tax-bureau")])
    (first,) = await reader.fetch(timeout=1)
    stop = asyncio.Event()
    task = await run_delivery(backbone, tmp_path, stop, routes)
    retries = await collect(await backbone.consumer("test", [retry_topic("tax-bureau")]), 2, 5)
    async with asyncio.timeout(5):
        while len(ScriptedEgress.sent) < 3:
            await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, 15)
    assert [r.headers[h.NEXT_ATTEMPT] for r in retries] == ["2", "3"]
    assert [float(r.headers[h.FIRST_TRY_AT]) for r in retries] == [
        pytest.approx(first.timestamp, abs=0.001)
    ] * 2
    assert [o.attempt for o in ScriptedEgress.sent] == [1, 2, 3]


async def test_a_retry_due_after_max_age_is_dead_lettered_at_once(
    backbone: EmbeddedBackbone, tmp_path: Path
) -> None:
    ScriptedEgress.script = ["busy"]
    routes = tax_bureau(
        "http://127.0.0.1:9/tax", "{attempts: 3, initial_backoff: 30, jitter: 0, max_age: 10}"
    )
    await backbone.publish([delivery()])
    stop = asyncio.Event()
    task = await run_delivery(backbone, tmp_path, stop, routes)
    (letter,) = await collect(await backbone.consumer("test", [DEAD_LETTERS]), 1, 5)
    stop.set()
    await asyncio.wait_for(task, 15)
    assert letter.headers[h.DEAD_LETTER_REASON] == (
        "after 1 attempt, not retried past retry.max_age of 10 s: 503 busy; "
        "replay once the receiver is back"
    )
    assert await collect(await backbone.consumer("t2", [retry_topic("tax-bureau")]), 1, 0.3) == []
    (failed,) = await events_of(backbone, Failed)
    assert (failed.attempt, failed.retrying) == (1, False)
    (given_up,) = await events_of(backbone, DeadLettered)
    assert given_up.attempt == 1


async def test_a_delivery_waiting_for_the_open_breaker_gives_up_at_its_max_age(
    backbone: EmbeddedBackbone, tmp_path: Path
) -> None:
    """One failure opens the breaker for a minute; the deliveries behind it do not wait
    that long, nor spend attempts: at their max age they are dead-lettered, unsent."""
    ScriptedEgress.script = ["busy"]
    routes = tax_bureau(
        "http://127.0.0.1:9/tax",
        "{attempts: 5, initial_backoff: 0.05, jitter: 0, max_age: 1}",
        "{failures: 1, cooldown: 60}",
    )
    await backbone.publish([delivery(b"<first/>")])
    stop = asyncio.Event()
    task = await run_delivery(backbone, tmp_path, stop, routes)
    await asyncio.wait_for(ScriptedEgress.started.wait(), 5)
    await backbone.publish([delivery(b"<second/>")])
    letters = await collect(await backbone.consumer("test", [DEAD_LETTERS]), 2, 4)
    stop.set()
    await asyncio.wait_for(task, 15)
    assert sorted(r.value for r in letters) == [b"<first/>", b"<second/>"]
    assert [o.attempt for o in ScriptedEgress.sent] == [1]  # the first try only
    for letter in letters:
        reason = letter.headers[h.DEAD_LETTER_REASON]
        assert reason.startswith("receiver unreachable: not delivered within retry.max_age of 1 s")
        assert "(circuit open since 20" in reason and "last error: 503 busy)" in reason
    attempts = {e.attempt for e in await events_of(backbone, DeadLettered)}
    assert attempts == {0, 1}  # the second had no try, the first one


async def test_a_replayed_delivery_starts_a_fresh_clock(
    backbone: EmbeddedBackbone, tmp_path: Path
) -> None:
    """Given up at its max age, replayed (through the store, as an operator does): it gets
    a whole max age again, from attempt 1, not the one try that its old clock would leave."""
    ScriptedEgress.script = ["busy"] * 1000
    routes = tax_bureau(
        "http://127.0.0.1:9/tax",
        "{attempts: 100, initial_backoff: 0.05, max_backoff: 0.05, jitter: 0, max_age: 0.8}",
        "{failures: 100}",
    )
    await backbone.publish([delivery()])
    stop = asyncio.Event()
    task = await run_delivery(backbone, tmp_path, stop, routes)
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await store.start()
    dead = await backbone.consumer("test", [DEAD_LETTERS])
    try:
        (first,) = await collect(dead, 1, 5)
        tried_before = len(ScriptedEgress.sent)
        await store.index.apply([], [from_record(dict(first.headers), first.value)])
        replayed_at = time.time()
        await replay(first.headers[h.DEAD_LETTER_ID], queries=store.queries, backbone=backbone)
        (second,) = await collect(dead, 1, 5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await store.close()
    again = [o.attempt for o in ScriptedEgress.sent[tried_before:]]
    assert tried_before > 3
    assert again[:3] == [1, 2, 3]
    assert len(again) > 3
    assert second.timestamp - replayed_at > 0.8 - 0.1
    assert "retry.max_age of 0.8 s" in second.headers[h.DEAD_LETTER_REASON]
