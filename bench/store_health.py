"""Latency of the health read and of one message's trace against the size of the store.

Run with ``python -m bench.store_health [--messages N] [--sizes A,B,...] [--calls C]``.
Fills a SQLite store (the hub's own tables and indexes, made by ``Store.start``) with N
messages the way the indexer leaves them: each with its steps (accepted, routed, one delivered
per destination) and one delivery row per destination; 98 % delivered, 2 % rejected, and a
backlog of ``--in-flight`` messages (accepted, routed, delivering, failed) that stays the same
size whatever the store holds.  The rows go in by plain ``sqlite3`` bulk inserts, much faster
than the indexer's own path (which ``bench/store_indexer.py`` measures).

At each size it times, through the hub's own code, on a freshly opened store:

- ``Store.health.read()`` (what ``GET /healthz`` answers): must stay flat;
- ``Queries.message(id)`` of random messages (what ``GET /v1/messages/{id}`` answers): flat;
- one store-retention pass with nothing due: flat;
- ``Queries.counts_by_status()``, the GROUP BY over every message that /healthz used before:
  it grows with the store, for comparison.

Prints p50 and p99 in milliseconds and the store's file size.  1,000,000 messages take a few
minutes to fill and about 2.4 GB of disk (``--keep DIR`` keeps the file, in DIR).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.dialects import sqlite

from exchange.store import Store, StoreRetention
from exchange.store.health import BACKLOG, SET_ASIDE
from exchange.store.models import MessageRow

CHUNK = 20_000  # messages per fill transaction
ROUTE = "registration-fan-out"
ENDPOINTS = ("tax-bureau", "legal-entity-registry", "social-security")
IN_FLIGHT_STATUSES = ("accepted", "routed", "delivering", "failed")
_DIALECT = sqlite.dialect()
_TIME = MessageRow.__table__.c.updated_at.type.bind_processor(_DIALECT)


def _stored_time(at: datetime) -> Any:
    """A time as the store's column type writes it on SQLite."""
    return _TIME(at) if _TIME is not None else at


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Filler:
    """Appends messages to a SQLite store file, ``CHUNK`` per transaction."""

    def __init__(self, path: Path, destinations: int, in_flight: int, seed: int = 7) -> None:
        self._db = sqlite3.connect(path)
        # Only for the fill: nothing here must survive a crash.
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("PRAGMA cache_size=-262144")  # 256 MiB
        self._random = random.Random(seed)
        self._endpoints = ENDPOINTS[:destinations]
        self._in_flight = in_flight
        self._start = datetime.now(UTC) - timedelta(days=30)
        self.count = 0
        self.sample: list[str] = []  # ids to read back, spread over the whole store

    def close(self) -> None:
        self._db.close()

    def fill_to(self, total: int) -> None:
        while self.count < total:
            size = min(CHUNK, total - self.count)
            messages, steps, deliveries = [], [], []
            for n in range(self.count, self.count + size):
                self._one(n, messages, steps, deliveries)
            with self._db:
                self._db.executemany(
                    "INSERT INTO messages (id, sender, message_id, correlation_id, "
                    "message_type, schema_version, status, size_bytes, received_at, "
                    "updated_at, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                    messages,
                )
                self._db.executemany(
                    "INSERT INTO steps (message, at, step, endpoint, detail) "
                    "VALUES (?, ?, ?, ?, ?)",
                    steps,
                )
                self._db.executemany(
                    "INSERT INTO deliveries (message, endpoint, route, adapters, status, "
                    "attempts, last_error, http_status, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                    deliveries,
                )
            self.count += size

    def _one(self, n: int, messages: list[Any], steps: list[Any], deliveries: list[Any]) -> None:
        hub_id = str(uuid.UUID(int=self._random.getrandbits(128), version=4))
        if n % 100 == 0:
            self.sample.append(hub_id)
        at = _stored_time(self._start + timedelta(seconds=n // 1000))
        if n < self._in_flight:
            status = IN_FLIGHT_STATUSES[n % len(IN_FLIGHT_STATUSES)]
        else:
            status = "rejected" if n % 50 == 49 else "delivered"
        identity = {
            "sender": "samr-reg",
            "message_id": f"bench-{n}",
            "correlation_id": hub_id,
            "message_type": "samr.EnterpriseRegistration",
            "schema_version": "1.0",
            "size": 2700,
        }
        kind = identity["message_type"]
        messages.append(
            (hub_id, "samr-reg", f"bench-{n}", hub_id, kind, "1.0", status, 2700, at, at)
        )
        if status == "rejected":
            reason = "line 3: element 'x' is not expected"
            detail = {**identity, "status": 422, "reason": reason}
            steps.append((hub_id, at, "rejected", None, json.dumps(detail)))
            return
        steps.append((hub_id, at, "accepted", None, json.dumps({**identity, "via": "rest"})))
        if status == "accepted":
            return
        adapters = ["samr-to-canonical", "canonical-to-tax"]
        routed = [{"endpoint": e, "route": ROUTE, "adapters": adapters} for e in self._endpoints]
        steps.append((hub_id, at, "routed", None, json.dumps({"destinations": routed})))
        for index, endpoint in enumerate(self._endpoints):
            done = status == "delivered" or (status == "delivering" and index == 0)
            if done:
                detail = {"route": ROUTE, "adapters": adapters, "attempt": 1, "status": 200}
                steps.append((hub_id, at, "delivered", endpoint, json.dumps(detail)))
            delivery = "delivered" if done else ("retrying" if status == "failed" else "pending")
            http_status = 200 if done else None
            chain = ",".join(adapters)
            deliveries.append(
                (hub_id, endpoint, ROUTE, chain, delivery, int(done), http_status, at)
            )


async def _time(calls: int, call: Callable[[], Awaitable[Any]]) -> list[float]:
    spent = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        spent.append((time.perf_counter() - started) * 1000)
    return spent


def _sql(statement: Any) -> str:
    return str(statement.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True}))


# The statements behind each read, for timing SQLite alone (no driver thread, no session).
_MESSAGE_SQL = (
    "SELECT * FROM messages WHERE id = ?",
    "SELECT * FROM steps WHERE message = ? ORDER BY seq",
    "SELECT * FROM deliveries WHERE message = ? ORDER BY endpoint",
)
_COUNTS_SQL = "SELECT status, count(*) FROM messages GROUP BY status"


def measure_sql(path: Path, sample: list[str], calls: int) -> dict[str, list[float]]:
    db = sqlite3.connect(path)
    health = [_sql(BACKLOG), _sql(SET_ASIDE)]
    ids = random.Random(5).choices(sample, k=calls)

    def timed(count: int, run: Callable[[int], None]) -> list[float]:
        spent = []
        for n in range(count):
            started = time.perf_counter()
            run(n)
            spent.append((time.perf_counter() - started) * 1000)
        return spent

    try:
        return {
            "health read (/healthz)": timed(
                calls, lambda _n: [db.execute(q).fetchall() for q in health]
            ),
            "message(id) (/v1/messages/{id})": timed(
                calls, lambda n: [db.execute(q, (ids[n],)).fetchall() for q in _MESSAGE_SQL]
            ),
            "counts_by_status (before)": timed(
                max(calls // 20, 3), lambda _n: db.execute(_COUNTS_SQL).fetchall()
            ),
        }
    finally:
        db.close()


async def measure(url: str, sample: list[str], calls: int) -> dict[str, list[float]]:
    store = Store(url)
    await store.start()
    try:
        retention = StoreRetention(store.engine, 365 * 24 * 3600 * 1000)
        ids: Iterator[str] = iter(random.Random(3).choices(sample, k=calls))

        async def one_message() -> None:
            assert await store.queries.message(next(ids)) is not None

        for warm in (store.health.read, store.queries.counts_by_status):
            await warm()
        reading = await store.health.read()
        assert sum(reading.messages.values()) > 0, reading
        return {
            "health read (/healthz)": await _time(calls, store.health.read),
            "message(id) (/v1/messages/{id})": await _time(calls, one_message),
            "retention pass, nothing due": await _time(max(calls // 10, 5), retention.sweep),
            "counts_by_status (before)": await _time(
                max(calls // 20, 3), store.queries.counts_by_status
            ),
        }
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument(
        "--sizes", default="10000,100000,1000000", help="store sizes to measure at (≤ N)"
    )
    parser.add_argument("--calls", type=int, default=200, help="timed calls of each read")
    parser.add_argument("--destinations", type=int, default=2, choices=(1, 2, 3))
    parser.add_argument("--in-flight", type=int, default=100, help="messages not finished")
    parser.add_argument("--keep", type=Path, help="folder to keep the store in")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if int(s) <= args.messages})
    if not sizes or sizes[-1] != args.messages:
        sizes.append(args.messages)

    with tempfile.TemporaryDirectory(prefix="store-health-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "store.db"
        path.unlink(missing_ok=True)
        url = f"sqlite+aiosqlite:///{path}"
        creator = Store(url)
        await creator.start()  # the hub's own tables and indexes
        await creator.close()
        filler = Filler(path, args.destinations, args.in_flight)
        results = []
        try:
            for size in sizes:
                started = time.monotonic()
                filler.fill_to(size)
                filled = time.monotonic() - started
                timings = await measure(url, filler.sample, args.calls)
                alone = measure_sql(path, filler.sample, args.calls)
                megabytes = path.stat().st_size / 1e6
                results.append((size, megabytes, timings, alone))
                load = os.getloadavg()[0]
                print(
                    f"{size:>9,} messages ({megabytes:,.0f} MB, filled in {filled:.0f} s; "
                    f"load average {load:.1f}):"
                )
                for name, spent in timings.items():
                    sql = ""
                    if name in alone:
                        sql = f"SQL alone p50 {statistics.median(alone[name]) * 1000:8.1f} µs"
                    print(
                        f"    {name:<34} p50 {statistics.median(spent):8.3f} ms   "
                        f"p99 {_percentile(spent, 0.99):8.3f} ms   ({len(spent)} calls)   {sql}"
                    )
        finally:
            filler.close()
    print()
    names = list(results[0][2])
    print("| messages | store | " + " | ".join(f"{n}: p50 / p99 ms" for n in names) + " |")
    print("|---" * (len(names) + 2) + "|")
    for size, megabytes, timings, alone in results:
        cells = []
        for n in names:
            cell = f"{statistics.median(timings[n]):.2f} / {_percentile(timings[n], 0.99):.2f}"
            if n in alone:
                cell += f" (SQL {statistics.median(alone[n]) * 1000:.0f} µs)"
            cells.append(cell)
        print(f"| {size:,} | {megabytes:,.0f} MB | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    asyncio.run(main())
