"""Delivery: one consumer per destination endpoint, calling the receiver.

The engine owns retries, backoff and circuit breaking; an egress sends once and
says whether a failure is worth another try.  Records are handled concurrently
(up to ``concurrency`` sends at once per endpoint) and an offset is committed only
when every record before it ended delivered, dead-lettered or rescheduled, together
with the records and events that say so.

A retry is rescheduled on the backbone, not kept in memory: a copy of the delivery
goes to the endpoint's retry topic with its next attempt number and the time it is
due, in the same write that commits the failed try.  After a restart the retry
comes back with its attempt count and due time intact.  Receivers deduplicate by
the message id every delivery carries (delivery is at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping

from exchange.backbone.base import (
    Backbone,
    ConsumedRecord,
    Consumer,
    OwnershipLost,
    Record,
    TopicPartition,
)
from exchange.backbone.claims import CLAIM_ERROR
from exchange.backbone.topics import delivery_topic, retry_topic
from exchange.catalog import Catalog
from exchange.egress import CircuitBreaker, EgressRegistry, Outbound, retry_delay
from exchange.envelope import Envelope
from exchange.errors import ConfigError, DeliveryError
from exchange.pipeline import events
from exchange.pipeline.deadletter import dead_letter
from exchange.pipeline.offsets import OffsetTracker
from exchange.pipeline.restart import run_until_stopped
from exchange.pipeline.router import H_ADAPTERS, H_ENDPOINT, H_ROUTE

log = logging.getLogger(__name__)

GROUP = "delivery"  # each endpoint's consumers form the group "delivery.<endpoint>"
FLUSH_SECONDS = 0.02
FLUSH_ON_STOP_SECONDS = 5.0
H_ATTEMPT = "x-exchange-attempt"  # on a rescheduled delivery: the number of the next try
H_DUE = "x-exchange-retry-at"  # ... and when it is due (Unix time, seconds)
# Records held per send slot: the others wait for their retry time without a slot.
HELD_PER_SLOT = 4


class EndpointDelivery:
    """Delivers one endpoint's topic."""

    def __init__(
        self,
        endpoint: str,
        backbone: Backbone,
        egress: EgressRegistry,
        catalog: Callable[[], Catalog],
        concurrency: int,
    ) -> None:
        self.endpoint = endpoint
        self._backbone = backbone
        self._egress = egress
        self._catalog = catalog
        self._concurrency = concurrency
        self._breaker = CircuitBreaker()
        self._sending = asyncio.Semaphore(concurrency)
        self._outputs: list[Record] = []
        self._trackers: dict[TopicPartition, OffsetTracker] = {}
        self._wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        topics = [delivery_topic(self.endpoint), retry_topic(self.endpoint)]
        # A group per endpoint: on Kafka, members of one group that read different topics
        # are assigned from one member's view of every topic, which may miss a new one.
        consumer = await self._backbone.consumer(f"{GROUP}.{self.endpoint}", topics)
        finishing = asyncio.Event()
        flusher = asyncio.create_task(self._flush_loop(consumer, finishing))
        tasks: set[asyncio.Task[None]] = set()
        held = self._concurrency * HELD_PER_SLOT
        try:
            while not stop.is_set():
                if len(tasks) >= held:  # enough on hand: wait for one to finish
                    await asyncio.wait(tasks, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
                    continue
                batch = await consumer.fetch(max_records=held - len(tasks), timeout=0.2)
                for record in batch:
                    tracker = self._trackers.setdefault(record.position, OffsetTracker())
                    tracker.started(record.offset)
                    task = asyncio.create_task(self._deliver(record, tracker))
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

    async def _deliver(self, record: ConsumedRecord, tracker: OffsetTracker) -> None:
        # Cancelled (the worker is stopping): not finished, so never committed; it comes again.
        try:
            outputs = await self._attempt(record)
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
        # Extend after the await: a flush may have swapped self._outputs meanwhile.
        self._outputs.extend(outputs)
        tracker.finished(record.offset)
        self._wake.set()

    async def _attempt(self, record: ConsumedRecord) -> list[Record]:
        """One try (the one the record is due for): what to publish about it."""
        headers = _without_schedule(record.headers)
        attempt = int(record.headers.get(H_ATTEMPT, "1"))
        envelope = Envelope.from_headers(headers)
        trace = {
            "endpoint": self.endpoint,
            "route": headers.get(H_ROUTE, ""),
            "adapters": [a for a in headers.get(H_ADAPTERS, "").split(",") if a],
        }

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

        if CLAIM_ERROR in headers:
            return give_up(headers[CLAIM_ERROR])
        due = float(record.headers.get(H_DUE, "0"))
        await asyncio.sleep(max(due - time.time(), 0))
        async with self._sending:
            while not self._breaker.allow():  # the endpoint is down: don't spend an attempt
                await asyncio.sleep(max(self._breaker.retry_after(), 0.05))
            endpoint = self._catalog().routing.endpoints.get(headers.get(H_ENDPOINT, self.endpoint))
            if endpoint is None:
                return give_up(
                    f"endpoint {self.endpoint!r} is no longer configured; add it to routes/ "
                    "and replay"
                )
            try:
                egress = self._egress.for_endpoint(endpoint)
                receipt = await egress.send(Outbound(envelope, endpoint, record.value, attempt))
            except (DeliveryError, ConfigError) as exc:
                retriable = isinstance(exc, DeliveryError) and exc.retriable
                status = exc.status if isinstance(exc, DeliveryError) else None
                detail = getattr(exc, "detail", str(exc))
                if retriable:
                    self._breaker.record_failure()
                else:
                    self._breaker.record_success()  # it answered: the endpoint is up
                retrying = retriable and attempt < endpoint.retry.attempts
                failed = events.event(
                    events.FAILED,
                    envelope.id,
                    attempt=attempt,
                    error=detail,
                    status=status,
                    retrying=retrying,
                    **trace,
                )
                if not retrying:
                    why = "not retriable" if not retriable else f"after {attempt} attempts"
                    return [failed, *give_up(f"{why}: {detail}", attempt)]
                wait = retry_delay(endpoint.retry, attempt, getattr(exc, "retry_after", None))
                retry = Record(
                    topic=retry_topic(self.endpoint),
                    value=record.value,
                    key=record.key,
                    headers={
                        **headers,
                        H_ATTEMPT: str(attempt + 1),
                        H_DUE: f"{time.time() + wait:.3f}",
                    },
                )
                return [failed, retry]
        self._breaker.record_success()
        return [
            events.event(
                events.DELIVERED,
                envelope.id,
                attempt=attempt,
                status=receipt.status,
                elapsed_ms=round(receipt.elapsed * 1000, 2),
                **trace,
            )
        ]

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


def _without_schedule(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name not in (H_ATTEMPT, H_DUE)}


class Delivery:
    """Runs one EndpointDelivery per endpoint of the routing table."""

    def __init__(
        self,
        backbone: Backbone,
        egress: EgressRegistry,
        catalog: Callable[[], Catalog],
        concurrency: int,
    ) -> None:
        self._backbone = backbone
        self._egress = egress
        self._catalog = catalog
        self._concurrency = concurrency

    async def run(self, stop: asyncio.Event) -> None:
        names = sorted(self._catalog().routing.endpoints)
        await asyncio.gather(*(self._run_endpoint(name, stop) for name in names))

    async def _run_endpoint(self, name: str, stop: asyncio.Event) -> None:
        """One endpoint's delivery, a fresh worker (and consumer) after a failure: the others
        go on meanwhile and never gain a second consumer in their group, as restarting them
        all would.  What it had not committed comes again to the fresh consumer."""

        async def fresh(stop: asyncio.Event) -> None:
            worker = EndpointDelivery(
                name, self._backbone, self._egress, self._catalog, self._concurrency
            )
            await worker.run(stop)

        await run_until_stopped(f"delivery to {name}", fresh, stop)
