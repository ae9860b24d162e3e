"""CPU time per message that the traffic aggregates add to the store indexer.

Run with ``python -m bench.traffic_fold [--messages N] [--batch B] [--rounds R]``.  The events
are what a busy hub's indexer reads (exchange/records/events.py, encoded and decoded as on the
backbone): each message accepted (with its ingress time), routed to one endpoint and delivered
(with its sender, type and end-to-end time), interleaved so that a batch holds some messages'
acceptance and others' delivery.  Each round indexes them into a fresh SQLite store in batches of
B events twice: once as the hub does (the aggregates folded and upserted in the same
transaction) and once with the aggregates left out; and times the fold into buckets alone.
Prints the best round of each (the one least disturbed by the rest of a busy machine) in ms of
process CPU per message, and the difference: what the aggregates cost.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from exchange.envelope import Envelope
from exchange.records.events import Accepted, Delivered, Destination, Event, Routed, decode, encode
from exchange.store import Store, traffic

LAG = 100  # messages between the newest accepted one and the one being delivered
ENDPOINT, ROUTE = "tax-bureau", "registration-fan-out"


def _events(count: int) -> list[Event]:
    envelopes = [
        Envelope.new(
            sender=f"samr-reg-{n % 3}",
            message_type="samr.EnterpriseRegistration",
            message_id=f"bench-{n}",
            schema_version="1.0",
        )
        for n in range(count)
    ]
    out: list[Event] = []
    for tick in range(count + 2 * LAG):
        if tick < count:
            out.append(Accepted.of(envelopes[tick], size=2700, via="rest", ingress_ms=2.5))
        if 0 <= tick - LAG < count:
            destination = Destination(endpoint=ENDPOINT, route=ROUTE, adapters=("a", "b"))
            out.append(Routed(id=envelopes[tick - LAG].id, destinations=(destination,)))
        if 0 <= tick - 2 * LAG < count:
            envelope = envelopes[tick - 2 * LAG]
            out.append(
                Delivered(
                    id=envelope.id,
                    endpoint=ENDPOINT,
                    route=ROUTE,
                    adapters=("a", "b"),
                    attempt=1,
                    status=200,
                    elapsed_ms=3.2,
                    sender=envelope.sender,
                    message_type=envelope.message_type,
                    e2e_ms=40.0 + tick % 200,
                )
            )
    return [decode(encode(event)) for event in out]


@contextmanager
def _without_aggregates() -> Iterator[None]:
    rows: Callable[[traffic.TrafficFold], list[dict[str, Any]]] = traffic.TrafficFold.rows
    traffic.TrafficFold.rows = lambda self: []  # type: ignore[method-assign]
    try:
        yield
    finally:
        traffic.TrafficFold.rows = rows  # type: ignore[method-assign]


async def _index(events: list[Event], batch: int, folder: Path) -> float:
    store = Store(f"sqlite+aiosqlite:///{folder / f'store-{time.monotonic_ns()}.db'}")
    await store.start()
    try:
        started = time.process_time()
        for at in range(0, len(events), batch):
            await store.index.apply(events[at : at + batch], [])
        return time.process_time() - started
    finally:
        await store.close()


def _fold_only(events: list[Event], batch: int) -> float:
    started = time.process_time()
    for at in range(0, len(events), batch):
        folded = traffic.TrafficFold()
        folded.add(events[at : at + batch])
        folded.rows()
    return time.process_time() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=2000, help="events per indexer batch")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    events = _events(args.messages)
    per = 1000 / args.messages  # seconds of CPU -> ms per message
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            figures = {"with": await _index(events, args.batch, Path(tmp))}
            with _without_aggregates():
                figures["without"] = await _index(events, args.batch, Path(tmp))
            figures["fold"] = _fold_only(events, args.batch)
            for name, seconds in figures.items():
                best[name] = min(best.get(name, seconds), seconds)
    print(
        f"{args.messages} messages (3 events each), batches of {args.batch} events, best of "
        f"{args.rounds} rounds, ms of process CPU per message:"
    )
    print(f"  indexer with the aggregates     {best['with'] * per:.4f}")
    print(f"  indexer without the aggregates  {best['without'] * per:.4f}")
    print(f"  difference                      {(best['with'] - best['without']) * per:.4f}")
    print(f"  of which folding into buckets   {best['fold'] * per:.4f}")


if __name__ == "__main__":
    asyncio.run(main())
