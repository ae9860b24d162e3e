"""The backbone contract, as tests every backbone implementation must pass.

A test module subclasses ``BackboneSuite`` (its name starts with ``Test``) and provides:

- ``make_backbone()``: a started backbone over the module's storage; every call in one test
  reaches the same storage (same file, same broker), so closing and calling it again is a reopen;
- ``crash(consumer)``: make the member vanish without closing (no commit, no leave) and return
  once its topics can go to another member;
- ``lose_ownership(consumer)``: keep the member object alive but let it lose its topics (idle past
  its lease / session), returning once another member may take them;
- ``child_factory`` and ``child_argument()``: ``"module:function"`` and the one string it takes to
  build an unstarted backbone over the same storage in another process;
- ``takeover_timeout``: seconds a standby may need to take over from a vanished member.

Capabilities a backbone does not declare are asserted to be declared false, never skipped.
This module also runs as the child process of the crash tests (see ``_child_main``).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest

from exchange.backbone import (
    Backbone,
    Capabilities,
    ConsumedRecord,
    Consumer,
    Record,
    TopicPartition,
)
from exchange.errors import BackboneError

_REPO = Path(__file__).resolve().parents[2]


class BackboneSuite:
    takeover_timeout: float = 5.0
    child_factory: str = ""

    async def make_backbone(self) -> Backbone:
        raise NotImplementedError

    async def crash(self, consumer: Consumer) -> None:
        raise NotImplementedError

    async def lose_ownership(self, consumer: Consumer) -> None:
        raise NotImplementedError

    def child_argument(self) -> str:
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------------

    @pytest.fixture(autouse=True)
    async def _close_backbones(self) -> AsyncIterator[None]:
        self._opened: list[Backbone] = []
        yield
        for backbone in self._opened:
            await backbone.close()

    async def open(self) -> Backbone:
        backbone = await self.make_backbone()
        self._opened.append(backbone)
        return backbone

    @staticmethod
    def topic(name: str = "t") -> str:
        """A topic no other test (or earlier run against a shared broker) has used."""
        return f"{name}-{uuid.uuid4().hex[:12]}"

    @staticmethod
    async def fetch_until(
        consumer: Consumer, count: int, timeout: float = 5.0
    ) -> list[ConsumedRecord]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        got: list[ConsumedRecord] = []
        while len(got) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            got += await consumer.fetch(max_records=count - len(got), timeout=min(remaining, 0.5))
        return got

    @staticmethod
    def values(records: Sequence[ConsumedRecord]) -> list[bytes]:
        return [record.value for record in records]

    @staticmethod
    async def publish_values(backbone: Backbone, topic: str, values: Sequence[bytes]) -> None:
        await backbone.publish([Record(topic, value) for value in values])

    @staticmethod
    async def backlog_settles(
        backbone: Backbone, group: str, topics: Sequence[str], expected: dict[str, int]
    ) -> bool:
        """Whether the backlog comes to ``expected`` within a few seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while await backbone.backlog(group, topics) != expected:
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    # -- publish and consume -----------------------------------------------------------------

    async def test_capabilities_are_declared_flags(self) -> None:
        backbone = await self.open()
        assert isinstance(backbone.capabilities, Capabilities)

    async def test_consumed_record_keeps_value_key_and_headers(self) -> None:
        backbone = await self.open()
        topic = self.topic()
        value = bytes(range(256)) * 12  # every byte value, ~3 KB
        await backbone.publish(
            [
                Record(topic, value, key="k-1", headers={"message-id": "m1", "x-empty": ""}),
                Record(topic, b"<a/>"),
            ]
        )
        consumer = await backbone.consumer("g", [topic])
        first, second = await self.fetch_until(consumer, 2)
        assert (first.topic, first.value, first.key, dict(first.headers)) == (
            topic,
            value,
            "k-1",
            {"message-id": "m1", "x-empty": ""},
        )
        assert (second.value, second.key, dict(second.headers)) == (b"<a/>", None, {})
        assert first.position == TopicPartition(topic, first.partition)
        assert second.offset > first.offset
        assert first.timestamp > 0

    async def test_order_is_kept_per_key_and_per_partition(self) -> None:
        backbone = await self.open()
        topic = self.topic()
        sent = [Record(topic, f"{i}".encode(), key=f"k{i % 3}") for i in range(30)]
        for start in range(0, 30, 7):
            await backbone.publish(sent[start : start + 7])
        consumer = await backbone.consumer("g", [topic])
        got = await self.fetch_until(consumer, 30)
        assert sorted(self.values(got), key=int) == [r.value for r in sent]
        for key in ("k0", "k1", "k2"):
            mine = [int(r.value) for r in got if r.key == key]
            assert mine == sorted(mine)
        for partition in {r.partition for r in got}:
            in_partition = [r for r in got if r.partition == partition]
            assert [int(r.value) for r in in_partition] == sorted(
                int(r.value) for r in in_partition
            )
            offsets = [r.offset for r in in_partition]
            assert offsets == sorted(set(offsets))

    async def test_concurrent_publishers_each_record_consumed_once(self) -> None:
        backbone = await self.open()
        topic = self.topic()

        async def publisher(n: int) -> None:
            for i in range(10):
                await backbone.publish([Record(topic, f"{n}-{i}".encode())])

        await asyncio.gather(*(publisher(n) for n in range(20)))
        consumer = await backbone.consumer("g", [topic])
        got = await self.fetch_until(consumer, 200)
        assert sorted(self.values(got)) == sorted(
            f"{n}-{i}".encode() for n in range(20) for i in range(10)
        )
        assert await consumer.fetch(timeout=0.1) == []

    async def test_fetch_waits_for_and_wakes_on_a_new_record(self) -> None:
        backbone = await self.open()
        topic = self.topic()
        consumer = await backbone.consumer("g", [topic])
        assert await consumer.fetch(timeout=0.05) == []
        loop = asyncio.get_running_loop()

        async def later() -> None:
            await asyncio.sleep(0.2)
            await self.publish_values(backbone, topic, [b"late"])

        task = asyncio.create_task(later())
        started = loop.time()
        got = await self.fetch_until(consumer, 1, timeout=5.0)
        await task
        assert self.values(got) == [b"late"]
        assert loop.time() - started < 2.0

    async def test_two_groups_each_see_every_record(self) -> None:
        backbone = await self.open()
        topic = self.topic()
        await self.publish_values(backbone, topic, [b"a", b"b", b"c"])
        first = await backbone.consumer("g1", [topic])
        second = await backbone.consumer("g2", [topic])
        assert self.values(await self.fetch_until(first, 3)) == [b"a", b"b", b"c"]
        assert self.values(await self.fetch_until(second, 3)) == [b"a", b"b", b"c"]

    async def test_a_consumer_of_several_topics_gets_all_of_them(self) -> None:
        backbone = await self.open()
        one, two = self.topic("one"), self.topic("two")
        await self.publish_values(backbone, one, [b"1a", b"1b"])
        await self.publish_values(backbone, two, [b"2a"])
        consumer = await backbone.consumer("g", [one, two])
        got = await self.fetch_until(consumer, 3)
        assert sorted((r.topic, r.value) for r in got) == [(one, b"1a"), (one, b"1b"), (two, b"2a")]

    # -- commit, redelivery, takeover ----------------------------------------------------------

    async def test_new_member_continues_after_the_commit(self) -> None:
        backbone = await self.open()
        topic = self.topic()
        await self.publish_values(backbone, topic, [b"%d" % i for i in range(10)])
        first = await backbone.consumer("g", [topic])
        got = await self.fetch_until(first, 10)
        await first.commit({got[3].position: got[3].offset + 1})
        await first.close()
        second = await backbone.consumer("g", [topic])
        rest = await self.fetch_until(second, 6, timeout=self.takeover_timeout)
        assert self.values(rest) == [b"%d" % i for i in range(4, 10)]

    async def test_fetched_but_uncommitted_records_are_redelivered_after_close(self) -> None:
        backbone = await self.open()
        topic = self.topic()
        await self.publish_values(backbone, topic, [b"%d" % i for i in range(5)])
        first = await backbone.consumer("g", [topic])
        got = await self.fetch_until(first, 5)
        await first.commit({got[1].position: got[1].offset + 1})
        await first.close()
        second = await backbone.consumer("g", [topic])
        again = await self.fetch_until(second, 3, timeout=self.takeover_timeout)
        assert self.values(again) == [b"2", b"3", b"4"]

    async def test_fetched_but_uncommitted_records_are_redelivered_after_a_crash(self) -> None:
        backbone = await self.open()
        topic = self.topic()
        await self.publish_values(backbone, topic, [b"%d" % i for i in range(5)])
        first = await backbone.consumer("g", [topic])
        got = await self.fetch_until(first, 5)
        await first.commit({got[0].position: got[0].offset + 1})
        await self.crash(first)
        second = await backbone.consumer("g", [topic])
        again = await self.fetch_until(second, 4, timeout=self.takeover_timeout)
        assert self.values(again) == [b"1", b"2", b"3", b"4"]

    async def test_one_member_owns_the_partition_and_a_standby_takes_over(self) -> None:
        backbone = await self.open()
        topic = self.topic()
        await self.publish_values(backbone, topic, [b"%d" % i for i in range(6)])
        members = [await backbone.consumer("g", [topic]) for _ in range(2)]
        got: dict[int, list[ConsumedRecord]] = {0: [], 1: []}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.takeover_timeout
        while len(got[0]) + len(got[1]) < 6 and loop.time() < deadline:
            for i, member in enumerate(members):
                got[i] += await member.fetch(timeout=0.05)
        owner = 0 if got[0] else 1
        standby = 1 - owner
        assert got[standby] == []
        assert self.values(got[owner]) == [b"%d" % i for i in range(6)]
        last = got[owner][2]
        await members[owner].commit({last.position: last.offset + 1})
        assert await members[standby].fetch(timeout=0.1) == []
        await members[owner].close()
        taken = await self.fetch_until(members[standby], 3, timeout=self.takeover_timeout)
        assert self.values(taken) == [b"3", b"4", b"5"]

    async def test_committing_the_next_offset_convention(self) -> None:
        backbone = await self.open()
        topic = self.topic()
        await self.publish_values(backbone, topic, [b"a", b"b"])
        first = await backbone.consumer("g", [topic])
        a, _b = await self.fetch_until(first, 2)
        await first.commit({a.position: a.offset})  # "next to read is a": nothing done yet
        await first.close()
        second = await backbone.consumer("g", [topic])
        assert self.values(await self.fetch_until(second, 2, self.takeover_timeout)) == [b"a", b"b"]

    # -- publish_and_commit ------------------------------------------------------------------

    async def test_publish_and_commit_publishes_outputs_and_commits_inputs(self) -> None:
        backbone = await self.open()
        inbound, outbound = self.topic("in"), self.topic("out")
        await self.publish_values(backbone, inbound, [b"1", b"2"])
        worker = await backbone.consumer("router", [inbound])
        first, _second = await self.fetch_until(worker, 2)
        await backbone.publish_and_commit(
            [Record(outbound, b"out-1", key="k")], worker, {first.position: first.offset + 1}
        )
        await worker.close()
        reader = await backbone.consumer("delivery", [outbound])
        assert self.values(await self.fetch_until(reader, 1)) == [b"out-1"]
        next_worker = await backbone.consumer("router", [inbound])
        assert self.values(await self.fetch_until(next_worker, 1, self.takeover_timeout)) == [b"2"]

    async def test_publish_and_commit_by_a_member_that_lost_its_partition(self) -> None:
        backbone = await self.open()
        inbound, outbound = self.topic("in"), self.topic("out")
        await self.publish_values(backbone, inbound, [b"1"])
        zombie = await backbone.consumer("router", [inbound])
        (record,) = await self.fetch_until(zombie, 1)
        await self.lose_ownership(zombie)
        successor = await backbone.consumer("router", [inbound])
        (again,) = await self.fetch_until(successor, 1, timeout=self.takeover_timeout)
        assert again.value == b"1"
        with pytest.raises(BackboneError):
            await backbone.publish_and_commit(
                [Record(outbound, b"out")], zombie, {record.position: record.offset + 1}
            )
        reader = await backbone.consumer("delivery", [outbound])
        outputs = await reader.fetch(timeout=0.3)
        if backbone.capabilities.transactional:
            assert outputs == []  # neither the outputs ...
        else:
            assert backbone.capabilities.transactional is False
        await successor.close()
        third = await backbone.consumer("router", [inbound])
        # ... nor the commit: the input is still to be processed
        assert self.values(await self.fetch_until(third, 1, self.takeover_timeout)) == [b"1"]

    # -- backlog -----------------------------------------------------------------------------

    async def test_backlog_counts_what_the_group_has_not_committed(self) -> None:
        backbone = await self.open()
        topic, untouched = self.topic(), self.topic("untouched")
        await self.publish_values(backbone, topic, [b"%d" % i for i in range(10)])
        assert await backbone.backlog("g", [topic, untouched]) == {topic: 10, untouched: 0}
        consumer = await backbone.consumer("g", [topic])
        got = await self.fetch_until(consumer, 10)
        assert await backbone.backlog("g", [topic]) == {topic: 10}  # fetched is not done
        await consumer.commit({got[3].position: got[3].offset + 1})
        assert await backbone.backlog("g", [topic]) == {topic: 6}
        assert await backbone.backlog("other", [topic]) == {topic: 10}
        await self.publish_values(backbone, topic, [b"late"])
        assert await backbone.backlog("g", [topic]) == {topic: 7}
        rest = await self.fetch_until(consumer, 7)
        await consumer.commit({rest[-1].position: rest[-1].offset + 1})
        assert await backbone.backlog("g", [topic]) == {topic: 0}

    async def test_backlog_is_the_same_seen_from_another_backbone_object(self) -> None:
        # what another process would see: the commit of one object, read by another
        writer = await self.open()
        topic = self.topic()
        await self.publish_values(writer, topic, [b"a", b"b", b"c"])
        consumer = await writer.consumer("g", [topic])
        got = await self.fetch_until(consumer, 3)
        await consumer.commit({got[0].position: got[0].offset + 1})
        watcher = await self.open()
        assert await watcher.backlog("g", [topic]) == {topic: 2}

    async def test_backlog_of_outputs_of_publish_and_commit_ends_at_zero(self) -> None:
        backbone = await self.open()
        inbound, outbound = self.topic("in"), self.topic("out")
        await self.publish_values(backbone, inbound, [b"1", b"2"])
        worker = await backbone.consumer("router", [inbound])
        first, _second = await self.fetch_until(worker, 2)
        await backbone.publish_and_commit(
            [Record(outbound, b"out-1"), Record(outbound, b"out-2")],
            worker,
            {first.position: first.offset + 1},
        )
        # Kafka writes a transaction's offsets to the group a moment after it commits
        assert await self.backlog_settles(backbone, "router", [inbound], {inbound: 1})
        reader = await backbone.consumer("delivery", [outbound])
        outputs: list[ConsumedRecord] = []
        for _ in range(20):  # asking for more than there is, as the stages do
            outputs += await reader.fetch(max_records=100, timeout=0.5)
            if len(outputs) >= 2:
                break
        assert self.values(outputs) == [b"out-1", b"out-2"]
        # Kafka counts the transaction's end marker too until the group commits past it
        assert (await backbone.backlog("delivery", [outbound]))[outbound] >= 2
        # ... and a group that has read and committed all of it owes nothing
        await reader.commit({outputs[-1].position: outputs[-1].offset + 1})
        assert await backbone.backlog("delivery", [outbound]) == {outbound: 0}

    # -- dedup_key ---------------------------------------------------------------------------

    async def test_dedup_key_drops_a_republished_record(self) -> None:
        backbone = await self.open()
        topic = self.topic()
        await backbone.publish([Record(topic, b"first", dedup_key="m-1")])
        await backbone.publish(
            [Record(topic, b"again", dedup_key="m-1"), Record(topic, b"other", dedup_key="m-2")]
        )
        await backbone.publish([Record(topic, b"same"), Record(topic, b"same")])
        await backbone.publish([Record(self.topic("elsewhere"), b"x", dedup_key="m-1")])
        await backbone.publish([Record(topic, b"end", dedup_key="m-3")])
        consumer = await backbone.consumer("g", [topic])
        got: list[bytes] = []
        while b"end" not in got:
            fetched = await consumer.fetch(timeout=5.0)
            assert fetched, "the last record published never arrived"
            got += self.values(fetched)
        if backbone.capabilities.deduplicates_publish:
            assert got == [b"first", b"other", b"same", b"same", b"end"]
        else:
            assert backbone.capabilities.deduplicates_publish is False
            assert got.count(b"same") == 2

    # -- durability --------------------------------------------------------------------------

    async def test_records_and_offsets_survive_a_reopen(self) -> None:
        backbone = await self.open()
        topic = self.topic()
        await self.publish_values(backbone, topic, [b"a", b"b", b"c"])
        consumer = await backbone.consumer("g", [topic])
        got = await self.fetch_until(consumer, 3)
        await consumer.commit({got[0].position: got[0].offset + 1})
        await consumer.close()
        await backbone.close()

        reopened = await self.open()
        consumer = await reopened.consumer("g", [topic])
        assert self.values(await self.fetch_until(consumer, 2, self.takeover_timeout)) == [
            b"b",
            b"c",
        ]
        fresh = await reopened.consumer("other", [topic])
        assert self.values(await self.fetch_until(fresh, 3)) == [b"a", b"b", b"c"]

    async def test_close_flushes_and_later_publishes_are_refused(self) -> None:
        backbone = await self.open()
        topic = self.topic()
        pending = [
            asyncio.create_task(backbone.publish([Record(topic, b"%d" % i)])) for i in range(20)
        ]
        await asyncio.sleep(0)  # every publish has started
        await backbone.close()
        await asyncio.gather(*pending)
        with pytest.raises(BackboneError, match="closed"):
            await backbone.publish([Record(topic, b"late")])
        reopened = await self.open()
        consumer = await reopened.consumer("g", [topic])
        assert len(await self.fetch_until(consumer, 20)) == 20

    async def test_acknowledged_records_survive_a_killed_publisher(self) -> None:
        topic = self.topic()
        child = self._spawn("publish", topic, "100000")
        acked: list[bytes] = []
        try:
            while len(acked) < 30:
                line = await self._read_line(child)
                acked.append(line.encode())
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
            assert child.stdout is not None
            acked += [line.strip().encode() for line in child.stdout.read().splitlines() if line]
            child.stdout.close()
        backbone = await self.open()
        consumer = await backbone.consumer("g", [topic])
        got = set(self.values(await self.fetch_until(consumer, len(acked), timeout=10.0)))
        assert set(acked) <= got

    async def test_member_killed_in_another_process_hands_over(self) -> None:
        backbone = await self.open()
        if not backbone.capabilities.multi_process_groups:
            assert backbone.capabilities.multi_process_groups is False
            return
        topic = self.topic()
        await self.publish_values(backbone, topic, [b"%d" % i for i in range(6)])
        child = self._spawn("consume", topic, "g", "2")
        standby = await backbone.consumer("g", [topic])
        try:
            assert await self._read_line(child) == "owned"
            assert await standby.fetch(timeout=0.2) == []
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
            assert child.stdout is not None
            child.stdout.close()
        taken = await self.fetch_until(standby, 4, timeout=self.takeover_timeout)
        assert self.values(taken) == [b"2", b"3", b"4", b"5"]

    # -- child processes ---------------------------------------------------------------------

    def _spawn(self, *args: str) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": str(_REPO)}
        command = [sys.executable, "-m", "tests.conformance.backbone_suite"]
        return subprocess.Popen(
            [*command, self.child_factory, self.child_argument(), *args],
            cwd=_REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )

    @staticmethod
    async def _read_line(child: subprocess.Popen[str], timeout: float = 20.0) -> str:
        assert child.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), timeout)
        assert line, f"the child process ended early with status {child.poll()}"
        return line.strip()


def _load_factory(spec: str) -> Callable[[str], Backbone]:
    module, _, name = spec.partition(":")
    factory: Callable[[str], Backbone] = getattr(importlib.import_module(module), name)
    return factory


async def _child(factory: str, argument: str, mode: str, args: list[str]) -> None:
    backbone = _load_factory(factory)(argument)
    await backbone.start()
    if mode == "publish":  # publish one record at a time, printing each once it is durable
        topic, count = args[0], int(args[1])
        for i in range(count):
            await backbone.publish([Record(topic, b"%d" % i)])
            print(i, flush=True)
    elif mode == "consume":  # own the topic, commit some records, then keep the ownership
        topic, group, commit = args[0], args[1], int(args[2])
        consumer = await backbone.consumer(group, [topic])
        got: list[ConsumedRecord] = []
        while len(got) <= commit:
            got += await consumer.fetch(timeout=0.5)
        await consumer.commit({got[commit - 1].position: got[commit - 1].offset + 1})
        print("owned", flush=True)
        while True:
            await consumer.fetch(timeout=0.05)


def _child_main() -> None:
    factory, argument, mode, *args = sys.argv[1:]
    asyncio.run(_child(factory, argument, mode, args))


if __name__ == "__main__":
    _child_main()
