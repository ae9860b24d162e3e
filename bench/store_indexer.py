"""CPU time per message of the store indexer: backbone records in, store rows out.

Run with ``python -m bench.store_indexer [--messages N] [--batch B] [--runs R] [--url URL]``.
Every message goes the way most do: accepted, routed to one endpoint, delivered.  The records
are the pipeline's own (``exchange.records.events``), interleaved as a busy hub writes them
(a message is routed while later ones are accepted, delivered while later ones are routed), and
handed to the indexer in batches of B records, as its consumer fetches them: so some messages
start in one batch and finish in the next.  Prints the CPU time (the whole process, so the
database driver's thread counts too) per message of each run and their median.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from exchange.backbone.base import ConsumedRecord, Record
from exchange.envelope import Envelope
from exchange.pipeline.events import publishable
from exchange.pipeline.indexer import IndexWriter
from exchange.records.events import Accepted, Delivered, Destination, Routed
from exchange.store import Store

# How many messages behind the newest accepted one the router and the delivery are.
LAG = 100
ENDPOINT = "tax-bureau"
ROUTE = "registration-fan-out"


def _records(count: int) -> list[Record]:
    envelopes = [
        Envelope.new(
            sender="samr-reg",
            message_type="samr.EnterpriseRegistration",
            message_id=f"bench-{n}",
            schema_version="1.0",
        )
        for n in range(count)
    ]
    out: list[Record] = []
    for tick in range(count + 2 * LAG):
        if tick < count:
            out.append(publishable(Accepted.of(envelopes[tick], size=2700, via="rest")))
        if 0 <= tick - LAG < count:
            destination = Destination(endpoint=ENDPOINT, route=ROUTE, adapters=("a", "b"))
            routed = Routed(id=envelopes[tick - LAG].id, destinations=(destination,))
            out.append(publishable(routed))
        if 0 <= tick - 2 * LAG < count:
            delivered = Delivered(
                id=envelopes[tick - 2 * LAG].id,
                endpoint=ENDPOINT,
                route=ROUTE,
                adapters=("a", "b"),
                attempt=1,
                status=200,
                elapsed_ms=3.2,
            )
            out.append(publishable(delivered))
    return out


def _consumed(records: list[Record]) -> list[ConsumedRecord]:
    return [
        ConsumedRecord(
            topic=r.topic,
            partition=0,
            offset=offset,
            value=r.value,
            key=r.key,
            headers=dict(r.headers or {}),
            timestamp=0.0,
        )
        for offset, r in enumerate(records)
    ]


async def run(url: str, count: int, batch: int) -> float:
    records = _consumed(_records(count))
    store = Store(url)
    await store.start()
    writer = IndexWriter(None, store)  # type: ignore[arg-type]  # only the store side runs
    stop = asyncio.Event()
    try:
        started = time.process_time()
        for start in range(0, len(records), batch):
            assert await writer._index(records[start : start + batch], stop)
        elapsed = time.process_time() - started
        counts = await store.queries.counts_by_status()
        assert counts == {"delivered": count}, counts
    finally:
        await store.close()
    return elapsed / count


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=2000, help="records per indexer batch")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--url", help="store URL (default: a new SQLite file per run)")
    args = parser.parse_args()
    costs = []
    with tempfile.TemporaryDirectory() as folder:
        for n in range(args.runs):
            url = args.url or f"sqlite+aiosqlite:///{Path(folder) / f'store-{n}.db'}"
            costs.append(await run(url, args.messages, args.batch))
            print(f"run {n + 1}: {costs[-1] * 1e3:.3f} ms CPU per message")
    print(
        f"{args.messages} messages, batches of {args.batch} records: "
        f"median {statistics.median(costs) * 1e3:.3f} ms CPU per message"
    )


if __name__ == "__main__":
    asyncio.run(main())
