"""The backbone: the durable log that carries messages between the hub's stages.

A backbone does three things: publish records durably, hand records to a
consumer group, and remember how far a group got (commit).  Implementations:
``embedded`` (SQLite, the zero-setup default) and ``kafka`` (production).
Optional behaviour is a declared capability, not a ``hasattr`` probe.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from exchange.errors import BackboneError


@dataclass(frozen=True, slots=True)
class Record:
    """What a producer hands the backbone.

    ``key`` keeps order: records of one key are consumed in the order they were
    published.  ``dedup_key``, when set, makes publishing idempotent on
    backbones that declare ``deduplicates_publish``: a second record with the
    same (topic, dedup_key) is dropped.
    """

    topic: str
    value: bytes
    key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    dedup_key: str | None = None


@dataclass(frozen=True, slots=True)
class TopicPartition:
    topic: str
    partition: int = 0


class OwnershipLost(BackboneError):
    """A commit named partitions this consumer no longer owns (a rebalance gave them to
    another member, or its lease ran out).  Their records go to the new owner: drop what is
    held for ``positions`` and commit the rest."""

    def __init__(self, detail: str, positions: frozenset[TopicPartition]) -> None:
        super().__init__(detail)
        self.positions = positions


@dataclass(frozen=True, slots=True)
class ConsumedRecord:
    """A record as a consumer sees it; ``offset`` is what to commit (plus one, see commit)."""

    topic: str
    partition: int
    offset: int
    value: bytes
    key: str | None
    headers: Mapping[str, str]
    timestamp: float

    @property
    def position(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


@dataclass(frozen=True, slots=True)
class Capabilities:
    # publish_and_commit is atomic (read-process-write exactly once)
    transactional: bool = False
    # Record.dedup_key is honoured
    deduplicates_publish: bool = False
    # several processes may consume one topic in one group
    multi_process_groups: bool = False


class Consumer(abc.ABC):
    """One member of a consumer group, reading a set of topics."""

    @abc.abstractmethod
    async def fetch(self, max_records: int = 500, timeout: float = 0.5) -> list[ConsumedRecord]:
        """Records after the group's committed position that this member has not yet
        been given; waits up to ``timeout`` seconds for at least one, else returns []."""

    @abc.abstractmethod
    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Durably record, for each partition, the offset of the *next* record to read
        (Kafka's convention: last processed offset + 1)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Leave the group; uncommitted records go to the next member."""


class Backbone(abc.ABC):
    capabilities = Capabilities()

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect / open storage; create missing topics lazily."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush and release resources."""

    @abc.abstractmethod
    async def publish(self, records: Sequence[Record]) -> None:
        """Return only when every record is durable (all-or-nothing where supported)."""

    @abc.abstractmethod
    async def consumer(self, group: str, topics: Sequence[str]) -> Consumer:
        """Join ``group`` as a consumer of ``topics``."""

    @abc.abstractmethod
    async def backlog(self, group: str, topics: Sequence[str]) -> dict[str, int]:
        """For each of ``topics``, how many records ``group`` has not yet consumed and
        committed (summed over partitions; 0 for a topic nobody has written to yet).

        A group that never committed owes every record the topic still holds.  Cheap enough
        to be asked every second: it reads positions, never the records themselves."""

    @abc.abstractmethod
    async def probe(self) -> None:
        """Raise ``BackboneError`` saying what is wrong if the backbone cannot be used now
        (for readiness probes: quick, and without writing anything)."""

    async def publish_and_commit(
        self,
        records: Sequence[Record],
        consumer: Consumer,
        offsets: Mapping[TopicPartition, int],
    ) -> None:
        """Publish outputs and commit the inputs that produced them.

        Atomic on backbones with ``capabilities.transactional``; elsewhere
        outputs become durable first and the commit follows, so a crash in
        between redelivers the input (at least once, never lost).
        """
        await self.publish(records)
        await consumer.commit(offsets)
