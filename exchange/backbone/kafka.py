"""The Kafka backbone: the hub's stages on Apache Kafka (``EXCHANGE_BACKBONE=kafka://...``).

- Publishing: one idempotent producer with ``acks=all``; ``publish`` returns when every
  in-sync replica has the records, so a ``202`` means durable.
- Consuming: a consumer group per stage (``router``, ``delivery``, ``store-indexer``), offsets
  committed by the hub only (no auto-commit), reading ``read_committed``.  Each topic's
  partitions are spread evenly over the members, sticky within that (kafka_assignor.py); a
  member that keeps a partition across a rebalance goes on from the records it already handed
  out instead of from the last commit (no duplicates).
- ``publish_and_commit`` is a Kafka transaction: the outputs and the consumed offsets become
  visible together or not at all (read-process-write, exactly once inside Kafka).  Each
  consumer has its own transactional producer, because one producer runs one transaction at
  a time and the stages run side by side.
- Topics are created when first used, with the partitions, replication and
  ``min.insync.replicas`` from settings and a record limit of ``kafka_max_record_bytes``;
  larger payloads travel by claim check (exchange/backbone/claims.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka import TopicPartition as KafkaPartition
from aiokafka.errors import CommitFailedError, KafkaError

from exchange import metrics
from exchange.backbone.base import (
    Backbone,
    Capabilities,
    ConsumedRecord,
    Consumer,
    OwnershipLost,
    Record,
    TopicPartition,
)
from exchange.backbone.claims import CLAIM, CLAIM_ERROR, CLAIM_HEADERS, ClaimStore
from exchange.backbone.kafka_assignor import assignor_for_one_consumer
from exchange.backbone.kafka_backlog import BacklogReader
from exchange.backbone.kafka_client import no_stray_cancel, stop_sending, within
from exchange.backbone.kafka_logging import quiet_client_logs
from exchange.backbone.kafka_topics import TopicAdmin
from exchange.errors import BackboneError
from exchange.settings import Settings

log = logging.getLogger(__name__)

# Room for headers and batch framing on top of the largest payload carried inline.
RECORD_OVERHEAD = 256 * 1024


@dataclass(frozen=True, slots=True)
class KafkaConfig:
    bootstrap: list[str]
    prefix: str = "exchange."
    partitions: int = 6
    replication_factor: int = 1
    min_insync_replicas: int = 1
    max_record_bytes: int = 8 * 1024 * 1024
    session_timeout_ms: int = 10_000
    # A delivery worker may wait long for a slow receiver without fetching; it must not be
    # taken for dead meanwhile (the session heartbeat shows it is alive).
    max_poll_interval_ms: int = 600_000
    # An open transaction of a crashed worker holds back read_committed readers of its
    # partitions until it times out: keep that short.
    transaction_timeout_ms: int = 15_000
    # The idempotent producer never gives up on a record while the brokers are away; the
    # front door must answer its sender within this time (503) all the same.
    publish_timeout_ms: int = 10_000
    # How soon a consumer notices topics and partitions created after it joined.
    metadata_max_age_ms: int = 10_000
    client_id: str = "exchange-hub"

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaConfig:
        return cls(
            bootstrap=settings.kafka_bootstrap,
            prefix=settings.kafka_prefix,
            partitions=settings.kafka_partitions,
            replication_factor=settings.kafka_replication_factor,
            min_insync_replicas=settings.kafka_min_insync,
            max_record_bytes=settings.kafka_max_record_bytes,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            publish_timeout_ms=settings.kafka_publish_timeout_ms,
        )

    @property
    def request_bytes(self) -> int:
        return self.max_record_bytes + RECORD_OVERHEAD


class KafkaBackbone(Backbone):
    capabilities = Capabilities(
        transactional=True, deduplicates_publish=False, multi_process_groups=True
    )

    def __init__(self, config: KafkaConfig, claims: ClaimStore) -> None:
        self.config = config
        self._claims = claims
        self._admin = TopicAdmin(config)
        self._backlog = BacklogReader(config)
        self._metrics = metrics.current()
        self._producer: AIOKafkaProducer | None = None
        self._consumers: set[KafkaConsumer] = set()
        self._publishing = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self.instance = uuid.uuid4().hex  # this process's name in transactional ids

    # -- naming ------------------------------------------------------------------------------

    def physical(self, topic: str) -> str:
        return self.config.prefix + topic

    def logical(self, topic: str) -> str:
        return topic[len(self.config.prefix) :]

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        quiet_client_logs()
        await self._claims.start()
        await self._admin.start()
        self._producer = self.new_producer()
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._admin.close()
            raise BackboneError(
                f"cannot reach Kafka at {','.join(self.config.bootstrap)}: {exc}; start the "
                "brokers (make kafka-up) or fix EXCHANGE_BACKBONE"
            ) from exc

    def new_producer(self, transactional_id: str | None = None) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.config.bootstrap,
            client_id=self.config.client_id,
            acks="all",
            enable_idempotence=True,
            max_request_size=self.config.request_bytes,
            linger_ms=1,
            transactional_id=transactional_id,
            transaction_timeout_ms=self.config.transaction_timeout_ms,
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._idle.wait()  # publishes already started finish first (they are bounded)
        await asyncio.gather(*(consumer.close() for consumer in list(self._consumers)))
        if self._producer is not None:
            await within(self._producer.stop(), "the producer")
        await within(self._admin.close(), "the admin client")
        await self._backlog.close()
        await self._claims.close()

    def _check_usable(self, action: str) -> AIOKafkaProducer:
        if self._closed:
            raise BackboneError(f"cannot {action}: the Kafka backbone is closed; start a new one")
        if self._producer is None:
            raise BackboneError(f"cannot {action}: call 'await backbone.start()' first")
        return self._producer

    # -- publishing --------------------------------------------------------------------------

    async def publish(self, records: Sequence[Record]) -> None:
        producer = self._check_usable("publish")
        self._publishing += 1
        self._idle.clear()
        started = time.perf_counter()
        try:
            async with (
                asyncio.timeout(self.config.publish_timeout_ms / 1000),
                no_stray_cancel("publishing"),
            ):
                prepared = await self._prepare(records)
                sent = [await self._send(producer, record) for record in prepared]
                await asyncio.gather(*sent)
            self._metrics.published("kafka", "publish", time.perf_counter() - started)
        except TimeoutError as exc:
            raise BackboneError(
                f"Kafka did not acknowledge {len(records)} record(s) within "
                f"{self.config.publish_timeout_ms} ms (brokers down or unreachable?); they may "
                "still arrive: send again with the same message id, the hub recognises it"
            ) from exc
        except KafkaError as exc:
            raise BackboneError(
                f"Kafka did not acknowledge {len(records)} record(s): {exc}; nothing was "
                "accepted, try again"
            ) from exc
        finally:
            self._publishing -= 1
            if not self._publishing:
                self._idle.set()

    async def _prepare(self, records: Sequence[Record]) -> list[Record]:
        """Topics exist and every payload fits in a record (else it goes by claim check)."""
        await self._admin.ensure([self.physical(t) for t in {r.topic for r in records}])
        prepared = []
        for record in records:
            if len(record.value) > self.config.max_record_bytes:
                claim = await self._claims.put(record.value)
                record = Record(
                    record.topic, b"", record.key, {**record.headers, **claim}, record.dedup_key
                )
            prepared.append(record)
        return prepared

    async def _send(self, producer: AIOKafkaProducer, record: Record) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = await producer.send(
            self.physical(record.topic),
            value=record.value,
            key=record.key.encode() if record.key is not None else None,
            headers=[(name, value.encode()) for name, value in record.headers.items()],
        )
        return future

    async def publish_and_commit(
        self,
        records: Sequence[Record],
        consumer: Consumer,
        offsets: Mapping[TopicPartition, int],
    ) -> None:
        self._check_usable("publish")
        if not isinstance(consumer, KafkaConsumer) or consumer.backbone is not self:
            raise BackboneError("publish_and_commit needs a consumer made by this same backbone")
        consumer.check_owned(offsets)
        if not records:
            await consumer.commit(offsets)
            return
        started = time.perf_counter()
        try:
            # Bounded: after a broker restart a transaction may wait for a coordinator that
            # never answers; the stage then starts over from its last commit.  No abort on
            # failure (aiokafka's transaction() context would await one without a bound):
            # the producer is dropped, and the next one, with the same transactional id,
            # fences it and has the coordinator abort what it left open.
            async with (
                asyncio.timeout(self.config.publish_timeout_ms / 1000),
                no_stray_cancel("a Kafka transaction"),
            ):
                prepared = await self._prepare(records)
                producer = await consumer.transactional_producer()
                await producer.begin_transaction()
                sent = [await self._send(producer, record) for record in prepared]
                await asyncio.gather(*sent)
                if offsets:
                    await producer.send_offsets_to_transaction(
                        await consumer.settled_offsets(offsets), consumer.group
                    )
                await producer.commit_transaction()
            self._metrics.published("kafka", "publish_and_commit", time.perf_counter() - started)
        except TimeoutError as exc:
            await consumer.drop_transactional_producer()
            raise BackboneError(
                f"Kafka transaction of {len(records)} record(s) did not complete within "
                f"{self.config.publish_timeout_ms} ms; it is aborted and the inputs stay "
                "uncommitted"
            ) from exc
        except KafkaError as exc:
            # A failed transaction can leave the producer unusable: start the next one afresh.
            await consumer.drop_transactional_producer()
            raise BackboneError(
                f"Kafka transaction of {len(records)} record(s) failed: {exc}; nothing of it "
                "is visible and the inputs stay uncommitted"
            ) from exc
        except BaseException:
            # Cut off (by the client or a stop) or a bug mid-transaction: the producer's state
            # is unknown.
            await consumer.drop_transactional_producer()
            raise

    # -- consuming ---------------------------------------------------------------------------

    async def consumer(self, group: str, topics: Sequence[str]) -> Consumer:
        self._check_usable("consume")
        if not group or not topics:
            raise BackboneError("a consumer needs a non-empty group name and at least one topic")
        names = [self.physical(topic) for topic in topics]
        await self._admin.ensure(names)
        consumer = KafkaConsumer(self, self.config.prefix + group, names)
        self._consumers.add(consumer)
        return consumer

    async def backlog(self, group: str, topics: Sequence[str]) -> dict[str, int]:
        self._check_usable("read the backlog")
        wanted = list(dict.fromkeys(topics))
        counts = await self._backlog.read(
            self.config.prefix + group, [self.physical(topic) for topic in wanted]
        )
        return {topic: counts[self.physical(topic)] for topic in wanted}

    async def probe(self) -> None:
        self._check_usable("probe")
        await self._backlog.probe()

    def forget(self, consumer: KafkaConsumer) -> None:
        self._consumers.discard(consumer)

    async def redeem(self, headers: Mapping[str, str]) -> tuple[bytes, dict[str, str]]:
        payload, problem = await self._claims.redeem(headers)
        # The claim belongs to this record only: outputs made from it must not inherit it.
        rest = {name: value for name, value in headers.items() if name not in CLAIM_HEADERS}
        if problem is not None:
            log.error("%s", problem)
            rest[CLAIM_ERROR] = problem
        return payload, rest


class KafkaConsumer(Consumer):
    """One member of a Kafka consumer group."""

    def __init__(self, backbone: KafkaBackbone, group: str, topics: list[str]) -> None:
        self.backbone = backbone
        self.group = group
        config = backbone.config
        self._kafka = AIOKafkaConsumer(
            bootstrap_servers=config.bootstrap,
            client_id=config.client_id,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_partition_fetch_bytes=config.request_bytes,
            fetch_max_bytes=max(config.request_bytes, 50 * 1024 * 1024),
            session_timeout_ms=config.session_timeout_ms,
            heartbeat_interval_ms=max(config.session_timeout_ms // 5, 500),
            max_poll_interval_ms=config.max_poll_interval_ms,
            partition_assignment_strategy=(assignor_for_one_consumer(),),
            metadata_max_age_ms=config.metadata_max_age_ms,
        )
        self._topics = topics
        self._owned: set[KafkaPartition] = set()
        self._handed_out: dict[KafkaPartition, int] = {}  # next offset after what fetch returned
        self._producer: AIOKafkaProducer | None = None
        # One id for every transactional producer of this group in this process, also across
        # a stage's restarts: a new producer fences the one it replaces (even one left behind
        # unclosed) and has its open transaction aborted at once, instead of read_committed
        # readers of its partitions waiting for the transaction to time out.
        self._transactional_id = f"{config.client_id}.{group}.{backbone.instance}"
        self._joined = False
        self._closed = False

    async def _join(self) -> None:
        """Join the group on the first fetch, not when made: a member takes partitions when
        it is ready to read them (as on the embedded backbone), so a standby made early does
        not hold partitions it never reads."""
        if self._joined:
            return
        self._joined = True
        self._kafka.subscribe(self._topics, listener=_Rebalance(self))
        try:
            await self._kafka.start()
        except KafkaError as exc:
            raise BackboneError(f"cannot join consumer group {self.group!r}: {exc}") from exc

    # -- rebalances --------------------------------------------------------------------------

    def revoked(self, partitions: Iterable[KafkaPartition]) -> None:
        self._owned.difference_update(partitions)

    def assigned(self, partitions: Iterable[KafkaPartition]) -> None:
        assigned = set(partitions)
        self._owned = assigned
        for partition in list(self._handed_out):
            if partition not in assigned:
                del self._handed_out[partition]
        for partition, position in self._handed_out.items():
            # Kept across the rebalance: what was handed out is still being worked on here.
            self._kafka.seek(partition, position)

    @property
    def owned(self) -> frozenset[TopicPartition]:
        """The partitions this member holds now."""
        logical = self.backbone.logical
        return frozenset(TopicPartition(logical(p.topic), p.partition) for p in self._owned)

    def check_owned(self, offsets: Mapping[TopicPartition, int]) -> None:
        lost = frozenset(p for p in offsets if self._partition(p) not in self._owned)
        if lost:
            names = ", ".join(f"{p.topic}[{p.partition}]" for p in sorted(lost, key=str))
            raise OwnershipLost(
                f"commit refused: consumer group {self.group!r} gave {names} to another "
                "member; its records go there, so drop them and go on",
                lost,
            )

    # -- the Consumer contract ---------------------------------------------------------------

    async def fetch(self, max_records: int = 500, timeout: float = 0.5) -> list[ConsumedRecord]:
        if max_records < 1:
            raise BackboneError(f"max_records={max_records} must be at least 1")
        await self._join()
        try:
            async with no_stray_cancel(f"fetching for group {self.group!r}"):
                batches = await self._kafka.getmany(
                    timeout_ms=int(timeout * 1000), max_records=max_records
                )
        except KafkaError as exc:
            raise BackboneError(f"fetching for group {self.group!r} failed: {exc}") from exc
        records: list[ConsumedRecord] = []
        for partition, batch in batches.items():
            if partition not in self._owned:
                continue  # revoked while the fetch was under way
            for message in batch:
                records.append(await self._consumed(message))
            self._handed_out[partition] = batch[-1].offset + 1
        return records

    async def _consumed(self, message: Any) -> ConsumedRecord:
        headers = {name: value.decode() for name, value in message.headers or ()}
        value: bytes = message.value or b""
        if CLAIM in headers:
            value, headers = await self.backbone.redeem(headers)
        return ConsumedRecord(
            topic=self.backbone.logical(message.topic),
            partition=message.partition,
            offset=message.offset,
            value=value,
            key=message.key.decode() if message.key is not None else None,
            headers=headers,
            timestamp=message.timestamp / 1000,
        )

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if not offsets:
            return
        self.check_owned(offsets)
        timeout = self.backbone.config.publish_timeout_ms / 1000
        try:
            # Bounded: aiokafka retries a commit for as long as the coordinator is away.
            async with asyncio.timeout(timeout), no_stray_cancel(f"commit for {self.group!r}"):
                await self._kafka.commit(await self.settled_offsets(offsets))
        except TimeoutError as exc:
            raise BackboneError(
                f"commit for group {self.group!r} did not complete within {timeout:g} s "
                "(group coordinator unreachable?); it is tried again with the next one"
            ) from exc
        except CommitFailedError as exc:  # a rebalance began since the ownership check
            raise OwnershipLost(
                f"commit refused for group {self.group!r}: its partitions are being "
                "reassigned; their records go to whoever owns them next",
                frozenset(offsets),
            ) from exc
        except KafkaError as exc:
            raise BackboneError(
                f"commit for group {self.group!r} failed: {exc}; the records will be "
                "delivered again"
            ) from exc

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.backbone.forget(self)
        await self.drop_transactional_producer()
        if self._joined:
            await within(self._kafka.stop(), f"the consumer of group {self.group!r}")

    # -- transactions ------------------------------------------------------------------------

    def kafka_offsets(self, offsets: Mapping[TopicPartition, int]) -> dict[KafkaPartition, int]:
        return {self._partition(p): offset for p, offset in offsets.items()}

    async def settled_offsets(
        self, offsets: Mapping[TopicPartition, int]
    ) -> dict[KafkaPartition, int]:
        """The offsets to commit, moved past the transaction markers (and aborted records)
        the client skipped after the last record handed out, when that record is the one
        committed: otherwise a group that has caught up would show one record of backlog per
        transaction end it read.  Nothing is skipped that was not read: the client's
        position passes only records it returned and batches that are no records."""
        settled = self.kafka_offsets(offsets)
        for partition, offset in settled.items():
            if self._handed_out.get(partition) != offset or partition not in self._owned:
                continue
            try:
                position = await self._kafka.position(partition)
            except KafkaError:  # no longer assigned: keep the offset as given
                continue
            if position > offset:
                settled[partition] = position
        return settled

    def _partition(self, position: TopicPartition) -> KafkaPartition:
        return KafkaPartition(self.backbone.physical(position.topic), position.partition)

    async def transactional_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            # Kept before it starts, so that a start cut short is dropped like a failed one.
            self._producer = producer = self.backbone.new_producer(self._transactional_id)
            try:
                await producer.start()
            except KafkaError as exc:
                await self.drop_transactional_producer()
                raise BackboneError(f"cannot start a Kafka transaction: {exc}") from exc
        return self._producer

    async def drop_transactional_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            stop_sending(producer)
            try:
                await within(producer.stop(), f"the transactional producer of {self.group!r}")
            except KafkaError:
                log.warning("closing a failed transactional producer", exc_info=True)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: KafkaConsumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: Iterable[KafkaPartition]) -> None:
        self._consumer.revoked(revoked)

    async def on_partitions_assigned(self, assigned: Iterable[KafkaPartition]) -> None:
        self._consumer.assigned(assigned)
