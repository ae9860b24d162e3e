"""How a Kafka consumer group shares partitions: evenly per topic, and sticky.

A delivery group reads two topics per endpoint, ``deliver.<endpoint>`` (all the traffic) and
``retry.<endpoint>`` (the odd failed try).  Kafka's sticky assignor balances only the *count*
of partitions per member, so a second worker may be handed every retry partition and none of
the deliveries: it would sit idle beside an overloaded first one.  This assignor spreads each
topic on its own over the members subscribed to it (their shares differ by one at most), and
within that keeps every partition with the member that held it, so a rebalance moves as few
partitions as it can (a kept partition goes on from where it was, with no repeats).

Members tell the group leader what they hold in the join request's user data.  aiokafka calls
an assignor through class methods, so the state lives on the class: each consumer takes a class
of its own from ``assignor_for_one_consumer()``.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar

from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)


def spread(
    partitions: Sequence[int],
    members: Sequence[str],
    held: Mapping[str, Iterable[int]],
    load: Counter[str] | None = None,
) -> dict[str, list[int]]:
    """Share one topic's ``partitions`` among ``members``: each gets ``n // m`` or one more.

    ``held`` is what each member owned before (kept where the shares allow; a partition that
    two members claim goes to the first).  ``load`` counts what members already got of other
    topics: the one-more shares go to those holding them already, then to the least loaded,
    so that several topics together stay balanced too.  ``load`` is updated.
    """
    load = load if load is not None else Counter()
    if not members:
        return {}
    ordered = sorted(members)
    base, extra = divmod(len(partitions), len(ordered))
    available = set(partitions)
    had = {m: sorted(set(held.get(m, ())) & available) for m in ordered}
    larger = sorted(ordered, key=lambda m: (len(had[m]) <= base, load[m], m))[:extra]
    quota = {m: base + (m in larger) for m in ordered}

    shares: dict[str, list[int]] = {m: [] for m in ordered}
    for member in ordered:  # keep what each member had, up to its share
        for partition in had[member]:
            if len(shares[member]) == quota[member]:
                break
            if partition in available:
                available.discard(partition)
                shares[member].append(partition)
    remaining = sorted(available)
    for member in ordered:  # then fill every share from what is left
        while len(shares[member]) < quota[member]:
            shares[member].append(remaining.pop(0))
        shares[member].sort()
        load[member] += len(shares[member])
    return shares


class TopicBalancedStickyAssignor(AbstractPartitionAssignor):  # type: ignore[misc]
    """Evenly per topic, sticky within that (see the module's docstring)."""

    name = "exchange-per-topic-sticky"
    version = 0
    # What the consumer using this class holds now (set on every assignment).
    owned: ClassVar[tuple[tuple[str, tuple[int, ...]], ...]] = ()

    @classmethod
    def metadata(cls, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
        held = json.dumps([[topic, list(parts)] for topic, parts in cls.owned]).encode()
        return ConsumerProtocolMemberMetadata(cls.version, sorted(topics), held)

    @classmethod
    def on_assignment(cls, assignment: ConsumerProtocolMemberAssignment) -> None:
        cls.owned = tuple((topic, tuple(parts)) for topic, parts in assignment.assignment)

    @classmethod
    def assign(
        cls,
        cluster: ClusterMetadata,
        members: Mapping[str, ConsumerProtocolMemberMetadata],
    ) -> dict[str, ConsumerProtocolMemberAssignment]:
        held = {member: _held(meta.user_data) for member, meta in members.items()}
        plan: dict[str, dict[str, list[int]]] = {member: {} for member in members}
        load: Counter[str] = Counter()
        topics = sorted({topic for meta in members.values() for topic in meta.subscription})
        for topic in topics:
            partitions = sorted(cluster.partitions_for_topic(topic) or ())
            readers = [m for m, meta in members.items() if topic in meta.subscription]
            before = {m: held[m].get(topic, []) for m in readers}
            for member, share in spread(partitions, readers, before, load).items():
                if share:
                    plan[member][topic] = share
        return {
            member: ConsumerProtocolMemberAssignment(cls.version, sorted(shares.items()), b"")
            for member, shares in plan.items()
        }


def _held(user_data: bytes) -> dict[str, list[int]]:
    """A member's partitions from its join request; nothing if unreadable (a newcomer, or
    another version: then it is simply not sticky this once)."""
    held: dict[str, list[int]] = defaultdict(list)
    try:
        for topic, parts in json.loads(user_data or b"[]"):
            held[str(topic)].extend(int(p) for p in parts)
    except (ValueError, TypeError):
        return {}
    return held


def assignor_for_one_consumer() -> type[TopicBalancedStickyAssignor]:
    """A class of its own for one consumer: the held partitions live on the class."""
    return type("OneConsumerAssignor", (TopicBalancedStickyAssignor,), {"owned": ()})
