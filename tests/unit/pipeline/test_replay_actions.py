"""Replaying and discarding many dead letters: bounded backbone writes, who did it, all or
nothing when an id is wrong; on the real embedded backbone and a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from exchange.backbone.base import Record
from exchange.backbone.embedded import EmbeddedBackbone
from exchange.backbone.topics import EVENTS, delivery_topic
from exchange.errors import BackboneError
from exchange.pipeline.replay import (
    AlreadyDiscarded,
    AlreadyReplayed,
    UnknownDeadLetter,
    discard_many,
    replay,
    replay_many,
)
from exchange.records.events import Discarded, Replayed, decode
from exchange.store import DeadLetter, Store
from exchange.store.dead_letters import DeadLetterFilter
from tests.unit.store.conftest import Flow

TAX = "tax-bureau"


class CountingBackbone(EmbeddedBackbone):
    """The embedded backbone, remembering the size of each write."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writes: list[int] = []

    async def publish(self, records: Sequence[Record]) -> None:
        self.writes.append(len(records))
        await super().publish(records)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await store.start()
    yield store
    await store.close()


@pytest.fixture
async def backbone(tmp_path: Path) -> AsyncIterator[CountingBackbone]:
    backbone = CountingBackbone(tmp_path / "backbone.db")
    await backbone.start()
    yield backbone
    await backbone.close()


async def _dead_letters(store: Store, n: int) -> list[DeadLetter]:
    made = []
    for i in range(n):
        flow = Flow(f"m-{i}")
        event, dead = flow.dead_lettered(TAX, reason="HTTP 400: refused")
        await store.index.apply([flow.accepted(), event], [dead])
        made.append(dead)
    return made


async def _read(backbone: EmbeddedBackbone, topic: str) -> list[bytes]:
    consumer = await backbone.consumer("test-reader", [topic])
    values: list[bytes] = []
    while batch := await consumer.fetch(timeout=0.2):
        values.extend(r.value for r in batch)
    await consumer.close()
    return values


async def test_many_are_replayed_in_bounded_writes_with_who_did_it(
    store: Store, backbone: CountingBackbone
) -> None:
    dead = await _dead_letters(store, 5)

    replayed = await replay_many(
        [d.id for d in dead], queries=store.queries, backbone=backbone, by="op-1", batch=2
    )

    assert replayed == 5
    # A record and its event per dead letter; two dead letters a write, the rest in a third.
    assert backbone.writes == [4, 4, 2]
    assert len(await _read(backbone, delivery_topic(TAX))) == 5
    events = [decode(v) for v in await _read(backbone, EVENTS)]
    assert {(type(e), getattr(e, "by", None)) for e in events} == {(Replayed, "op-1")}
    assert sorted(e.dead_letter for e in events if isinstance(e, Replayed)) == sorted(
        d.id for d in dead
    )
    assert await store.queries.dead.count(DeadLetterFilter()) == 0
    listed = await store.queries.dead.page(DeadLetterFilter(include_replayed=True))
    assert {r["replay_count"] for r in listed} == {1}


async def test_one_unknown_id_replays_none(store: Store, backbone: CountingBackbone) -> None:
    dead = await _dead_letters(store, 2)
    with pytest.raises(UnknownDeadLetter, match="no-such-id"):
        await replay_many(
            [dead[0].id, "no-such-id"], queries=store.queries, backbone=backbone, by="op"
        )
    assert backbone.writes == []
    assert await store.queries.dead.count(DeadLetterFilter()) == 2


async def test_a_discarded_one_is_not_replayed(store: Store, backbone: CountingBackbone) -> None:
    dead = await _dead_letters(store, 2)
    discarded = await discard_many(
        [dead[0].id, dead[0].id],
        queries=store.queries,
        backbone=backbone,
        by="op-2",
        reason="sent twice",
    )
    assert discarded == 1
    events = [decode(v) for v in await _read(backbone, EVENTS)]
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, Discarded)
    assert (event.id, event.by, event.reason, event.endpoint) == (
        dead[0].message,
        "op-2",
        "sent twice",
        TAX,
    )
    # Discarded again: already done, by op-2; nothing new is published.
    again = await discard_many(
        [dead[0].id], queries=store.queries, backbone=backbone, by="op-3", reason="again"
    )
    assert again == 0
    assert backbone.writes == [1]

    with pytest.raises(AlreadyDiscarded, match="discarded by op-2"):
        await replay(dead[0].id, queries=store.queries, backbone=backbone, by="op")
    assert backbone.writes == [1]
    answer = await replay(dead[1].id, queries=store.queries, backbone=backbone, by="op")
    assert answer["status"] == "replayed"
    assert answer["message"] == dead[1].message


async def test_a_replayed_one_is_not_discarded(store: Store, backbone: CountingBackbone) -> None:
    (dead,) = await _dead_letters(store, 1)
    await replay_many([dead.id], queries=store.queries, backbone=backbone, by="op")
    with pytest.raises(AlreadyReplayed, match="replayed already"):
        await discard_many([dead.id], queries=store.queries, backbone=backbone, by="op", reason="r")
    assert backbone.writes == [2]  # the replay's record and event; no discard
    listed = await store.queries.dead.page(DeadLetterFilter(include_replayed=True))
    assert [r["discarded"] for r in listed] == [None]


async def test_a_discard_the_backbone_refuses_is_taken_back(
    store: Store, backbone: CountingBackbone
) -> None:
    dead = await _dead_letters(store, 1)
    await backbone.close()  # the backbone is gone: the discard's event cannot be written
    with pytest.raises(BackboneError):
        await discard_many(
            [dead[0].id], queries=store.queries, backbone=backbone, by="op", reason="r"
        )
    listed = await store.queries.dead.page(DeadLetterFilter())
    assert [r["id"] for r in listed] == [dead[0].id]
    assert listed[0]["discarded"] is None
