"""Delivery: one consumer per destination endpoint, calling the receiver.

The engine owns retries, backoff and circuit breaking; an egress sends once and
says whether a failure is worth another try.  Records are handled concurrently
(up to ``concurrency`` per endpoint) and an offset is committed only when every
record before it ended delivered or dead-lettered, together with the events
that say so.  Retries are scheduled in memory: a crash during a backoff means
the record is delivered again from its first attempt after the restart
(at least once; receivers deduplicate by the message id every delivery carries).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from exchange.backbone.base import Backbone, ConsumedRecord, Consumer, Record, TopicPartition
from exchange.backbone.topics import delivery_topic
from exchange.catalog import Catalog
from exchange.egress import CircuitBreaker, EgressRegistry, Outbound, retry_delay
from exchange.envelope import Envelope
from exchange.errors import ConfigError, DeliveryError
from exchange.pipeline import events
from exchange.pipeline.deadletter import dead_letter
from exchange.pipeline.offsets import OffsetTracker
from exchange.pipeline.router import H_ADAPTERS, H_ENDPOINT, H_ROUTE

log = logging.getLogger(__name__)

GROUP = "delivery"
FLUSH_SECONDS = 0.02


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
        self._outputs: list[Record] = []
        self._trackers: dict[TopicPartition, OffsetTracker] = {}
        self._wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        consumer = await self._backbone.consumer(GROUP, [delivery_topic(self.endpoint)])
        flusher = asyncio.create_task(self._flush_loop(consumer, stop))
        tasks: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                if len(tasks) >= self._concurrency:  # every slot busy: wait for one
                    await asyncio.wait(tasks, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
                    continue
                batch = await consumer.fetch(
                    max_records=self._concurrency - len(tasks), timeout=0.2
                )
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
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            await self._flush(consumer)  # what finished is committed; the rest comes again
            await consumer.close()

    async def _deliver(self, record: ConsumedRecord, tracker: OffsetTracker) -> None:
        try:
            # Await first: extending self._outputs directly would bind the list a flush
            # may swap out during the await, and the events would be lost.
            outputs = await self._attempts(record)
            self._outputs.extend(outputs)
        except Exception as exc:  # a bug must not wedge the partition: dead-letter and go on
            log.exception("delivery of offset %s to %s failed", record.offset, self.endpoint)
            envelope = Envelope.from_headers(dict(record.headers))
            self._outputs.extend(
                dead_letter(
                    envelope=envelope,
                    stage="deliver",
                    reason=f"internal error while delivering: {exc!r}",
                    payload=record.value,
                    replay_topic=record.topic,
                    headers=dict(record.headers),
                    endpoint=self.endpoint,
                )
            )
        finally:
            tracker.finished(record.offset)
            self._wake.set()

    async def _attempts(self, record: ConsumedRecord) -> list[Record]:
        headers = dict(record.headers)
        envelope = Envelope.from_headers(headers)
        trace = {
            "endpoint": self.endpoint,
            "route": headers.get(H_ROUTE, ""),
            "adapters": [a for a in headers.get(H_ADAPTERS, "").split(",") if a],
        }
        attempt = 1
        while True:
            endpoint = self._catalog().routing.endpoints.get(headers.get(H_ENDPOINT, self.endpoint))
            if endpoint is None:
                return dead_letter(
                    envelope=envelope,
                    stage="deliver",
                    reason=f"endpoint {self.endpoint!r} is no longer configured; add it to "
                    "routes/ and replay",
                    payload=record.value,
                    replay_topic=record.topic,
                    headers=headers,
                    endpoint=self.endpoint,
                )
            wait = self._breaker.retry_after()
            if not self._breaker.allow():
                await asyncio.sleep(max(wait, 0.05))
                continue
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
                self._outputs.append(
                    events.event(
                        events.FAILED,
                        envelope.id,
                        attempt=attempt,
                        error=detail,
                        status=status,
                        retrying=retrying,
                        **trace,
                    )
                )
                if not retrying:
                    why = "not retriable" if not retriable else f"after {attempt} attempts"
                    return dead_letter(
                        envelope=envelope,
                        stage="deliver",
                        reason=f"{why}: {detail}",
                        payload=record.value,
                        replay_topic=record.topic,
                        headers=headers,
                        endpoint=self.endpoint,
                        attempt=attempt,
                    )
                await asyncio.sleep(
                    retry_delay(endpoint.retry, attempt, getattr(exc, "retry_after", None))
                )
                attempt += 1
                continue
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

    async def _flush_loop(self, consumer: Consumer, stop: asyncio.Event) -> None:
        while not stop.is_set():
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
        except Exception:
            # Nothing is lost: the uncommitted records are delivered again after a restart.
            log.exception("could not commit deliveries to %s; will retry", self.endpoint)
            self._outputs[:0] = outputs
            for position, offset in offsets.items():
                self._trackers[position].restore(offset)
            self._wake.set()
            await asyncio.sleep(0.5)


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
        workers = [
            EndpointDelivery(name, self._backbone, self._egress, self._catalog, self._concurrency)
            for name in names
        ]
        await asyncio.gather(*(worker.run(stop) for worker in workers))
