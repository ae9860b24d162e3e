"""Delivery: one consumer per destination endpoint, calling the receiver.

The engine owns retries, backoff and circuit breaking; an egress sends once and
says whether a failure is worth another try.  Records are handled concurrently
(up to ``concurrency`` sends at once per endpoint) and an offset is committed only
when every record before it ended delivered, dead-lettered or rescheduled, together
with the records and events that say so.  Records of one correlation id go one at a time,
in order, also through retries (see ``ordering``).

A retry is rescheduled on the backbone, not kept in memory: a copy of the delivery
goes to the endpoint's retry topic with its next attempt number and the time it is
due, in the same write that commits the failed try.  After a restart the retry
comes back with its attempt count and due time intact.  Receivers deduplicate by
the message id every delivery carries (delivery is at least once).

Two bounds end the tries, whichever comes first: the endpoint's ``retry.attempts``, and
``retry.max_age`` counted from when the delivery reached this stage (its deliver record's
time, carried by every retry; a replay starts a fresh clock).  While the endpoint's circuit
breaker is open, deliveries wait for it without a send slot and without spending attempts,
each one trial per cool-down; none waits past its max age: it is dead-lettered then, naming
the endpoint's last error, to be replayed once the receiver is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from exchange import logs, metrics
from exchange.backbone.base import (
    Backbone,
    ConsumedRecord,
    Consumer,
    OwnershipLost,
    Record,
    TopicPartition,
)
from exchange.backbone.topics import delivery_topic, retry_topic
from exchange.egress import (
    BreakerState,
    CircuitBreaker,
    EgressRegistry,
    Outbound,
    Receipt,
    retry_delay,
)
from exchange.envelope import HEADERS, Envelope, utc_now
from exchange.errors import ConfigError, DeliveryError
from exchange.pipeline.deadletter import dead_letter
from exchange.pipeline.events import publishable
from exchange.pipeline.offsets import OffsetTracker
from exchange.pipeline.ordering import CorrelationOrder, Ticket
from exchange.pipeline.restart import run_until_stopped
from exchange.records import headers as h
from exchange.records.events import BreakerChanged, Delivered, Failed
from exchange.routing.model import BreakerPolicy, Endpoint
from exchange.ruleset import RuleSet

log = logging.getLogger(__name__)

GROUP = "delivery"  # each endpoint's consumers form the group "delivery.<endpoint>"
FLUSH_SECONDS = 0.02
FLUSH_ON_STOP_SECONDS = 5.0
# Records held per send slot: the others wait for their retry time, or for an open
# breaker, without a slot.
HELD_PER_SLOT = 4
FOLLOW_SECONDS = 0.25  # how often delivery looks for endpoints a reloaded rule set adds


class EndpointDelivery:
    """Delivers one endpoint's topic."""

    def __init__(
        self,
        endpoint: str,
        backbone: Backbone,
        egress: EgressRegistry,
        rules: Callable[[], RuleSet],
        concurrency: int,
    ) -> None:
        self.endpoint = endpoint
        self._backbone = backbone
        self._egress = egress
        self._rules = rules
        self._concurrency = concurrency
        configured = rules().routing.endpoints.get(endpoint)
        # A reload that removes the endpoint leaves its records to deliver: they go with
        # the configuration it had when last seen (see _configured).
        self._last_configured = configured
        self._breaker = CircuitBreaker.for_policy(
            configured.breaker if configured is not None else BreakerPolicy()
        )
        # Set when a send succeeds: wakes the deliveries waiting for the breaker at once,
        # rather than each at the end of a cool-down.
        self._breaker_closed = asyncio.Event()
        self._breaker_closed.set()
        self._open_since: float | None = None  # wall time the breaker opened after a success
        self._last_error: str | None = None  # the endpoint's latest retriable failure
        # The breaker state last published (BreakerChanged): the console, in another
        # process, learns of a change only from the events topic.
        self._breaker_reported: BreakerState | None = None
        self._sending = asyncio.Semaphore(concurrency)
        self._outputs: list[Record] = []
        self._trackers: dict[TopicPartition, OffsetTracker] = {}
        self._wake = asyncio.Event()
        self._order = CorrelationOrder()
        self._metrics = metrics.current()

    async def run(self, stop: asyncio.Event) -> None:
        topics = [delivery_topic(self.endpoint), retry_topic(self.endpoint)]
        # A group per endpoint: on Kafka, members of one group that read different topics
        # are assigned from one member's view of every topic, which may miss a new one.
        consumer = await self._backbone.consumer(f"{GROUP}.{self.endpoint}", topics)
        finishing = asyncio.Event()
        flusher = asyncio.create_task(self._flush_loop(consumer, finishing))
        tasks: set[asyncio.Task[None]] = set()
        held = self._concurrency * HELD_PER_SLOT
        retries = retry_topic(self.endpoint)
        self._note_breaker()  # a fresh breaker is closed, whatever an earlier process said
        try:
            while not stop.is_set():
                if len(tasks) >= held:  # enough on hand: wait for one to finish
                    await asyncio.wait(tasks, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
                    continue
                batch = await consumer.fetch(max_records=held - len(tasks), timeout=0.2)
                for consumed in batch:
                    record = _current(consumed)
                    tracker = self._trackers.setdefault(record.position, OffsetTracker())
                    tracker.started(record.offset)
                    ticket = self._order.enter(record.key, _generation(record, retries))
                    task = asyncio.create_task(self._deliver(record, tracker, ticket))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Let a flush under way end (cancelling it mid-transaction would leave the
            # transaction to time out), then write what finished; the rest comes again.
            finishing.set()
            self._wake.set()
            try:
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(flusher, timeout=FLUSH_ON_STOP_SECONDS)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._flush(consumer), timeout=FLUSH_ON_STOP_SECONDS)
            finally:
                await consumer.close()

    async def _deliver(
        self, record: ConsumedRecord, tracker: OffsetTracker, ticket: Ticket
    ) -> None:
        # Cancelled (the worker is stopping): not finished, so never committed; it comes again.
        logs.hub_id.set(record.headers.get(HEADERS["id"]))  # this task's log lines name it
        try:
            await ticket.turn()
            generation = self._order.forward_as(ticket)
            if generation is not None:
                outputs = [self._forwarded(record, generation)]
            else:
                outputs = await self._attempt(record, ticket)
        except asyncio.CancelledError:
            self._order.leave(ticket)
            raise
        except Exception as exc:  # a bug must not wedge the partition: dead-letter and go on
            log.exception("delivery of offset %s to %s failed", record.offset, self.endpoint)
            envelope = Envelope.from_headers(dict(record.headers))
            outputs = dead_letter(
                envelope=envelope,
                stage="deliver",
                reason=f"internal error while delivering: {exc!r}",
                payload=record.value,
                replay_topic=delivery_topic(self.endpoint),
                headers=_without_schedule(record.headers),
                endpoint=self.endpoint,
            )
        # Extend after the await: a flush may have swapped self._outputs meanwhile.  The
        # records of one id are extended in their order, so a forwarded one is written after
        # the retry it follows.
        self._outputs.extend(outputs)
        self._order.leave(ticket)
        tracker.finished(record.offset)
        self._wake.set()

    def _forwarded(self, record: ConsumedRecord, generation: int) -> Record:
        """The record, unsent, to the end of the retry topic, behind an earlier record of its
        correlation id; it keeps its attempt number, due time and max-age clock."""
        headers = {**record.headers, h.ORDER_GENERATION: str(generation)}
        headers.setdefault(h.FIRST_TRY_AT, f"{_started_at(record):.3f}")
        return Record(
            topic=retry_topic(self.endpoint), value=record.value, key=record.key, headers=headers
        )

    async def _attempt(self, record: ConsumedRecord, ticket: Ticket) -> list[Record]:
        """One try (the one the record is due for): what to publish about it."""
        headers = _without_schedule(record.headers)
        attempt = int(record.headers.get(h.NEXT_ATTEMPT, "1"))
        started = _started_at(record)
        envelope = Envelope.from_headers(headers)
        route = headers.get(h.ROUTE, "")
        adapters = tuple(a for a in headers.get(h.ADAPTERS, "").split(",") if a)

        def give_up(reason: str, tried: int | None = None) -> list[Record]:
            return dead_letter(
                envelope=envelope,
                stage="deliver",
                reason=reason,
                payload=record.value,
                replay_topic=delivery_topic(self.endpoint),
                headers=headers,
                endpoint=self.endpoint,
                attempt=tried,
            )

        if h.CLAIM_ERROR in headers:
            return give_up(headers[h.CLAIM_ERROR])
        endpoint = self._configured(headers.get(h.ENDPOINT, self.endpoint))
        if endpoint is None:
            return give_up(
                f"endpoint {self.endpoint!r} is no longer configured; add it to routes/ and replay"
            )
        deadline = started + endpoint.retry.max_age
        due = float(record.headers.get(h.RETRY_AT, "0"))
        await asyncio.sleep(max(due - time.time(), 0))
        outbound = Outbound(envelope, endpoint, record.value, attempt)
        while True:
            if not await self._wait_for_breaker(deadline):
                return give_up(self._unreachable(endpoint), attempt - 1)
            async with self._sending:
                if self._breaker.allow():
                    sent_at = time.perf_counter()
                    outcome = await self._send(outbound)
                    took = time.perf_counter() - sent_at
                    break
            # Another delivery holds the half-open trial, or the breaker opened meanwhile.
        if isinstance(outcome, Receipt):
            self._succeeded()
            now = utc_now()
            delivered = Delivered(
                id=envelope.id,
                at=now,
                attempt=attempt,
                status=outcome.status,
                elapsed_ms=round(outcome.elapsed * 1000, 2),
                endpoint=self.endpoint,
                route=route,
                adapters=adapters,
                sender=envelope.sender,
                message_type=envelope.message_type,
                e2e_ms=_since_accepted(envelope, now),
            )
            e2e = None if delivered.e2e_ms is None else delivered.e2e_ms / 1000
            self._metrics.delivered(
                envelope.sender, envelope.message_type, route, self.endpoint, took, e2e
            )
            return [publishable(delivered)]
        retriable = isinstance(outcome, DeliveryError) and outcome.retriable
        status = outcome.status if isinstance(outcome, DeliveryError) else None
        detail = getattr(outcome, "detail", str(outcome))
        self._metrics.failed(envelope.sender, envelope.message_type, route, self.endpoint, took)
        if retriable:
            self._failed(detail)
        else:
            self._succeeded()  # it answered: the endpoint is up
        wait = retry_delay(endpoint.retry, attempt, getattr(outcome, "retry_after", None))
        next_try = time.time() + wait
        why = None
        if not retriable:
            why = f"not retriable: {detail}"
        elif attempt >= endpoint.retry.attempts:
            why = f"after {_tries(attempt)}: {detail}"
        elif next_try > deadline:  # the next try would come too late: stop now, not then
            why = (
                f"after {_tries(attempt)}, not retried past retry.max_age of "
                f"{_duration(endpoint.retry.max_age)}: {detail}; replay once the receiver is back"
            )
        failed = publishable(
            Failed(
                id=envelope.id,
                attempt=attempt,
                error=detail,
                status=status,
                retrying=why is None,
                endpoint=self.endpoint,
                route=route,
                adapters=adapters,
                sender=envelope.sender,
                message_type=envelope.message_type,
            )
        )
        if why is not None:
            return [failed, *give_up(why, attempt)]
        retry = Record(
            topic=retry_topic(self.endpoint),
            value=record.value,
            key=record.key,
            headers={
                **headers,
                h.NEXT_ATTEMPT: str(attempt + 1),
                h.RETRY_AT: f"{next_try:.3f}",
                h.FIRST_TRY_AT: f"{started:.3f}",
                h.ORDER_GENERATION: str(self._order.rescheduled(ticket)),
            },
        )
        return [failed, retry]

    def _configured(self, name: str) -> Endpoint | None:
        """The endpoint as the current rules say, or as last seen if a reload removed it."""
        found = self._rules().routing.endpoints.get(name)
        if name != self.endpoint:
            return found
        if found is not None:
            self._last_configured = found
        return self._last_configured

    async def _send(self, outbound: Outbound) -> Receipt | DeliveryError | ConfigError:
        """The receiver's answer, or the error that says why it did not take the delivery."""
        try:
            egress = self._egress.for_endpoint(outbound.endpoint)
            return await egress.send(outbound)
        except (DeliveryError, ConfigError) as exc:
            return exc

    async def _wait_for_breaker(self, deadline: float) -> bool:
        """Wait, holding no send slot, until the breaker may let a send through (True), or
        until ``deadline`` (Unix time) if that comes first (False)."""
        while (pause := self._breaker.retry_after()) > 0:
            remaining = deadline - time.time()
            if remaining <= 0:
                return False
            self._breaker_closed.clear()  # the breaker says wait: no success closed it since
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._breaker_closed.wait(), min(pause, remaining))
        if self._breaker_reported is not BreakerState.CLOSED:
            self._note_breaker()  # the cool-down may have ended: half-open
        return True

    def _succeeded(self) -> None:
        self._breaker.record_success()
        self._open_since = None
        self._breaker_closed.set()
        if self._breaker_reported is not BreakerState.CLOSED:
            self._note_breaker()

    def _failed(self, detail: str) -> None:
        self._last_error = detail
        self._breaker.record_failure()
        if self._open_since is None and self._breaker.state is not BreakerState.CLOSED:
            self._open_since = time.time()
        self._note_breaker()

    def _note_breaker(self) -> None:
        """Publish the breaker's state with the next write if it changed since the last."""
        state = self._breaker.state
        if state is self._breaker_reported:
            return
        self._breaker_reported = state
        self._metrics.breaker(self.endpoint, state.value)
        change = BreakerChanged.of(
            self.endpoint, state.value, self._breaker.consecutive_failures, self._last_error
        )
        self._outputs.append(publishable(change))
        self._wake.set()

    def _unreachable(self, endpoint: Endpoint) -> str:
        """Why a delivery that waited for the open breaker until its max age is given up."""
        since = "unknown" if self._open_since is None else _utc(self._open_since)
        return (
            f"receiver unreachable: not delivered within retry.max_age of "
            f"{_duration(endpoint.retry.max_age)} (circuit open since {since}, last error: "
            f"{self._last_error or 'none recorded'}); replay once the receiver is back"
        )

    async def _flush_loop(self, consumer: Consumer, finishing: asyncio.Event) -> None:
        while not finishing.is_set():
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(FLUSH_SECONDS)  # gather what finishes meanwhile into one write
            await self._flush(consumer)

    async def _flush(self, consumer: Consumer) -> None:
        offsets = {}
        for position, tracker in self._trackers.items():
            committable = tracker.take_committable()
            if committable is not None:
                offsets[position] = committable
        outputs, self._outputs = self._outputs, []
        if not outputs and not offsets:
            return
        try:
            await self._backbone.publish_and_commit(outputs, consumer, offsets)
        except OwnershipLost as lost:
            # A rebalance moved some partitions away: their records are the new owner's now.
            log.info("%s", lost)
            for position in lost.positions:
                offsets.pop(position, None)
                self._trackers.pop(position, None)
            self._retry_later(outputs, offsets)
        except Exception:
            # Nothing is lost: the uncommitted records are delivered again after a restart.
            log.exception("could not commit deliveries to %s; will retry", self.endpoint)
            self._retry_later(outputs, offsets)
            await asyncio.sleep(0.5)

    def _retry_later(self, outputs: list[Record], offsets: dict[TopicPartition, int]) -> None:
        self._outputs[:0] = outputs
        for position, offset in offsets.items():
            tracker = self._trackers.get(position)
            if tracker is not None:
                tracker.restore(offset)
        self._wake.set()


def _generation(record: ConsumedRecord, retries: str) -> int | None:
    """A retry-topic record's generation (see ordering), None for a deliver-topic one."""
    if record.topic != retries:
        return None
    try:
        return int(record.headers.get(h.ORDER_GENERATION, "0"))
    except ValueError:
        return 0


def _current(record: ConsumedRecord) -> ConsumedRecord:
    """The record with the header names of this version: a retry written by an earlier one
    carries its next attempt under an older name (``headers.LEGACY``)."""
    headers = h.upgraded(record.headers)
    return record if headers is record.headers else dataclasses.replace(record, headers=headers)


def _without_schedule(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers but the retry schedule: a dead letter goes without it, so that its replay
    starts afresh (attempt 1, a new max-age clock)."""
    return {name: value for name, value in headers.items() if name not in h.SCHEDULE}


def _started_at(record: ConsumedRecord) -> float:
    """When the delivery reached this stage: its deliver record's time, which every retry
    carries on (a retry without it, written before it was carried, counts from itself)."""
    carried = record.headers.get(h.FIRST_TRY_AT)
    if carried is not None:
        with contextlib.suppress(ValueError):
            return float(carried)
    return record.timestamp


def _duration(seconds: float) -> str:
    """``90`` -> ``"1.5 min"``, ``86400`` -> ``"1 d"``: a span as an operator reads it."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def _since_accepted(envelope: Envelope, now: datetime) -> float | None:
    """Milliseconds from the front door's acceptance (the envelope's creation) to ``now``."""
    try:
        created = datetime.fromisoformat(envelope.created_at)
    except ValueError:
        return None
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return round((now - created).total_seconds() * 1000, 2)


def _tries(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"


def _utc(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")


class Delivery:
    """Runs one EndpointDelivery per endpoint of the routing table."""

    def __init__(
        self,
        backbone: Backbone,
        egress: EgressRegistry,
        rules: Callable[[], RuleSet],
        concurrency: int,
    ) -> None:
        self._backbone = backbone
        self._egress = egress
        self._rules = rules
        self._concurrency = concurrency

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver every endpoint, and each endpoint a reloaded rule set adds.

        An endpoint a reload removes keeps its worker: the records already routed to it
        are delivered with its last configuration (and so are its retries).
        """
        running: dict[str, asyncio.Task[None]] = {}
        version: str | None = None
        try:
            while not stop.is_set():
                rules = self._rules()
                if rules.version != version:
                    version = rules.version
                    self._follow(rules, running, stop)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=FOLLOW_SECONDS)
        finally:
            if running:
                await asyncio.gather(*running.values(), return_exceptions=True)

    def _follow(
        self, rules: RuleSet, running: dict[str, asyncio.Task[None]], stop: asyncio.Event
    ) -> None:
        names = set(rules.routing.endpoints)
        first = not running
        for name in sorted(names - set(running)):
            if not first:
                log.info("rules %s add endpoint %s: delivering to it", rules.version, name)
            running[name] = asyncio.create_task(
                self._run_endpoint(name, stop), name=f"delivery to {name}"
            )
        for name in sorted(set(running) - names):
            log.info(
                "rules %s no longer name endpoint %s: its records already routed are still"
                " delivered with its last configuration",
                rules.version,
                name,
            )

    async def _run_endpoint(self, name: str, stop: asyncio.Event) -> None:
        """One endpoint's delivery, a fresh worker (and consumer) after a failure: the others
        go on meanwhile and never gain a second consumer in their group, as restarting them
        all would.  What it had not committed comes again to the fresh consumer."""

        async def fresh(stop: asyncio.Event) -> None:
            worker = EndpointDelivery(
                name, self._backbone, self._egress, self._rules, self._concurrency
            )
            await worker.run(stop)

        await run_until_stopped(f"delivery to {name}", fresh, stop)
