"""CPU time per message of the embedded backbone, on the pattern the hub puts on it.

Many concurrent tasks publish, per message, one to three records (the inbound document of
2.7 KB with a dedup key and its "accepted" event, sometimes one record, sometimes a third), a
router-like group reads the inbound topic and for each batch publishes one record per input
and commits the input in the same transaction (``publish_and_commit``), and an indexer-like
group reads the events and commits them.  The log is a fresh file with ``synchronous=FULL``.

Run with ``python -m bench.backbone_cpu [messages] [runs]`` (default 5000 messages, 5 runs);
prints, for each run and as the median, the process's CPU time (every thread) per message, the
event-loop thread's share, and the CPU time per record written.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from exchange.backbone import EmbeddedBackbone, Record, TopicPartition

PUBLISHERS = 64
DOCUMENT = os.urandom(2700)
BATCH_SIZES = (2, 2, 1, 3)  # records per publish, in turn


def _message_records(n: int) -> list[Record]:
    key = f"corr-{n % 97}"
    headers = {"x-exchange-id": f"id-{n}", "x-exchange-sender": "bench"}
    event = json.dumps({"kind": "accepted", "id": f"id-{n}", "size": len(DOCUMENT)}).encode()
    records = [
        Record("inbound", DOCUMENT, key=key, headers=headers, dedup_key=f"id-{n}"),
        Record("events", event, key=f"id-{n}", headers=headers),
        Record("events", event, key=f"id-{n}", headers=headers),
    ]
    return records[: BATCH_SIZES[n % len(BATCH_SIZES)]]


async def run(path: Path, messages: int) -> tuple[float, float, int, float]:
    """CPU seconds (whole process, event-loop thread), records written, wall seconds."""
    backbone = EmbeddedBackbone(path, synchronous="FULL")
    await backbone.start()
    batches = [_message_records(n) for n in range(messages)]
    inbound = sum(1 for batch in batches for r in batch if r.topic == "inbound")
    events = sum(len(batch) for batch in batches) - inbound
    written = inbound + events + inbound  # the router writes one record per inbound one
    queue = iter(range(messages))

    async def publisher() -> None:
        for n in queue:
            await backbone.publish(batches[n])

    async def router() -> None:
        consumer = await backbone.consumer("router", ["inbound"])
        seen = 0
        while seen < inbound:
            got = await consumer.fetch(max_records=200, timeout=0.2)
            if not got:
                continue
            outputs = [Record("deliver.x", r.value, key=r.key, headers=r.headers) for r in got]
            offsets = {TopicPartition("inbound"): got[-1].offset + 1}
            await backbone.publish_and_commit(outputs, consumer, offsets)
            seen += len(got)

    async def indexer() -> None:
        consumer = await backbone.consumer("indexer", ["events", "deliver.x"])
        seen, wanted = 0, events + inbound
        while seen < wanted:
            got = await consumer.fetch(max_records=2000, timeout=0.05)
            if not got:
                continue
            offsets: dict[TopicPartition, int] = {}
            for record in got:
                offsets[record.position] = record.offset + 1
            await consumer.commit(offsets)
            seen += len(got)

    cpu, loop_cpu, wall = time.process_time(), time.thread_time(), time.perf_counter()
    await asyncio.gather(router(), indexer(), *(publisher() for _ in range(PUBLISHERS)))
    cpu, loop_cpu = time.process_time() - cpu, time.thread_time() - loop_cpu
    wall = time.perf_counter() - wall
    await backbone.close()
    return cpu, loop_cpu, written, wall


async def main() -> None:
    messages = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    print(f"{messages} messages, {PUBLISHERS} publishers, synchronous=FULL, {runs} runs")
    per_message: list[float] = []
    per_record: list[float] = []
    loop_per_message: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        for i in range(runs):
            cpu, loop_cpu, written, wall = await run(Path(folder) / f"run{i}.db", messages)
            per_message.append(cpu / messages * 1000)
            per_record.append(cpu / written * 1000)
            loop_per_message.append(loop_cpu / messages * 1000)
            print(
                f"run {i + 1}: {per_message[-1]:.3f} ms CPU/message "
                f"({loop_per_message[-1]:.3f} on the event loop), "
                f"{per_record[-1]:.3f} ms CPU/record ({written} records), {wall:.2f} s wall"
            )
    print(
        f"median: {statistics.median(per_message):.3f} ms CPU/message "
        f"({statistics.median(loop_per_message):.3f} on the event loop), "
        f"{statistics.median(per_record):.3f} ms CPU/record"
    )


if __name__ == "__main__":
    asyncio.run(main())
