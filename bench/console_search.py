"""The console's message search against a store of 1,000,000 messages.

Run with ``python -m bench.console_search [--messages N] [--calls C] [--keep DIR]``.
Fills a fresh SQLite store (the hub's own tables and indexes, made by ``Store.start``) with
N messages and their deliveries by plain ``sqlite3`` bulk inserts (not the pipeline: that is
``bench/store_indexer.py``): 30 days of traffic from 20 senders, 4 message types, 10
receivers (one of them rare: 0.1 % of the messages), 90 % delivered and the rest spread over
the other statuses, correlation ids shared by about three messages each.

Then times each kind of search page the console asks for, through the hub's own code
(``MessageSearch.search``, 50 a page), ``--calls`` times each with values drawn at random:
by hub id, sender's message id, correlation id, sender, type, receiver (common and rare),
status (common and rare), a time range, no filter, filters combined, and page 20 of a
sender's results (following the cursors).  Prints p50 and p95 in milliseconds and each p95's
ratio to the 300 ms target.  1,000,000 messages take a minute or two to fill and about 1 GB.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.dialects import sqlite

from exchange.envelope import hub_id_for
from exchange.store import Store
from exchange.store.models import MessageRow
from exchange.store.search import MessageSearch, SearchFilter

TARGET_P95_MS = 300.0
CHUNK = 50_000
DAYS = 30
SENDERS = tuple(f"agency-{i:02d}" for i in range(20))
TYPES = (
    "samr.EnterpriseRegistration",
    "canonical.LegalEntity",
    "hrss.EmployerRegistration",
    "tax.TaxpayerRegistration",
)
ENDPOINTS = tuple(f"receiver-{i}" for i in range(9))
RARE_ENDPOINT = "receiver-rare"
STATUSES = (
    ("delivered", 0.90),
    ("rejected", 0.03),
    ("dead_lettered", 0.02),
    ("failed", 0.02),
    ("delivering", 0.015),
    ("routed", 0.01),
    ("accepted", 0.005),
)
_TIME = MessageRow.__table__.c.received_at.type.bind_processor(sqlite.dialect())


def _stored(at: datetime) -> Any:
    return _TIME(at) if _TIME is not None else at


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Filler:
    def __init__(self, path: Path, seed: int = 11) -> None:
        self._db = sqlite3.connect(path)
        self._db.execute("PRAGMA synchronous=OFF")  # only for the fill
        self._db.execute("PRAGMA cache_size=-262144")
        self._random = random.Random(seed)
        self.start = datetime.now(UTC) - timedelta(days=DAYS)
        self.samples: dict[str, list[Any]] = {"id": [], "message_id": [], "correlation_id": []}

    def fill(self, total: int) -> None:
        step = timedelta(days=DAYS) / total
        statuses = [s for s, _ in STATUSES]
        weights = [w for _, w in STATUSES]
        for first in range(0, total, CHUNK):
            messages, deliveries = [], []
            for i in range(first, min(total, first + CHUNK)):
                sender = self._random.choice(SENDERS)
                message_id = f"msg-{i:08d}"
                hub_id = hub_id_for(sender, message_id)
                correlation = f"case-{i // 3:08d}"
                status = self._random.choices(statuses, weights)[0]
                at = _stored(self.start + step * i)
                messages.append(
                    (
                        hub_id,
                        sender,
                        message_id,
                        correlation,
                        self._random.choice(TYPES),
                        "1.0",
                        status,
                        3000,
                        at,
                        at,
                        None,
                    )
                )
                if status != "rejected":
                    chosen = self._random.sample(ENDPOINTS, self._random.randint(1, 3))
                    if self._random.random() < 0.001:
                        chosen.append(RARE_ENDPOINT)
                    for endpoint in chosen:
                        deliveries.append(
                            (hub_id, endpoint, "route", "", "delivered", 1, None, 200, at)
                        )
                if self._random.random() < 0.0005:
                    self.samples["id"].append(hub_id)
                    self.samples["message_id"].append(message_id)
                    self.samples["correlation_id"].append(correlation)
            self._db.executemany(
                "INSERT INTO messages (id, sender, message_id, correlation_id, message_type,"
                " schema_version, status, size_bytes, received_at, updated_at, last_error)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                messages,
            )
            self._db.executemany(
                "INSERT INTO deliveries (message, endpoint, route, adapters, status, attempts,"
                " last_error, http_status, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                deliveries,
            )
            self._db.commit()

    def close(self) -> None:
        self._db.close()


async def _time(call: Callable[[], Awaitable[Any]], calls: int) -> list[float]:
    await call()  # the first one warms the page cache for this kind
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def _run(path: Path, calls: int, samples: dict[str, list[Any]], start: datetime) -> None:
    store = Store(f"sqlite+aiosqlite:///{path}")
    await store.start()
    search: MessageSearch = store.search
    pick = random.Random(5)
    kinds: dict[str, Callable[[], Awaitable[Any]]] = {}

    def by(**values: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
        async def call() -> Any:
            where = SearchFilter(**{name: make() for name, make in values.items()})
            return await search.search(where)

        return call

    def recent_day() -> datetime:
        return start + timedelta(days=pick.uniform(0, DAYS - 1))

    kinds["hub id"] = by(id=lambda: pick.choice(samples["id"]))
    kinds["sender's message id"] = by(message_id=lambda: pick.choice(samples["message_id"]))
    kinds["correlation id"] = by(correlation_id=lambda: pick.choice(samples["correlation_id"]))
    kinds["sender"] = by(sender=lambda: pick.choice(SENDERS))
    kinds["message type"] = by(message_type=lambda: pick.choice(TYPES))
    kinds["receiver"] = by(endpoint=lambda: pick.choice(ENDPOINTS))
    kinds["receiver, rare (0.1 %)"] = by(endpoint=lambda: RARE_ENDPOINT)
    kinds["status delivered"] = by(status=lambda: "delivered")
    kinds["status dead_lettered"] = by(status=lambda: "dead_lettered")
    kinds["no filter"] = by()

    async def day_range() -> Any:
        since = recent_day()
        return await search.search(SearchFilter(since=since, until=since + timedelta(hours=6)))

    kinds["time range (6 h)"] = day_range

    async def combined() -> Any:
        since = recent_day()
        return await search.search(
            SearchFilter(
                sender=pick.choice(SENDERS),
                status="delivered",
                endpoint=pick.choice(ENDPOINTS),
                since=since - timedelta(days=3),
                until=since,
            )
        )

    kinds["sender + status + receiver + 3 days"] = combined

    async def combined_rare() -> Any:
        return await search.search(
            SearchFilter(message_type=pick.choice(TYPES), status="dead_lettered")
        )

    kinds["type + status dead_lettered"] = combined_rare

    async def deep_page() -> Any:
        where = SearchFilter(sender=pick.choice(SENDERS))
        cursor = None
        for _ in range(20):
            page = await search.search(where, cursor=cursor)
            cursor = page.next_cursor
        return page

    kinds["page 20 of a sender (20 pages, each timed / 20)"] = deep_page

    print(f"{'search page (50 rows)':52} {'p50 ms':>8} {'p95 ms':>8} {'p95/target':>11}")
    worst = 0.0
    for name, call in kinds.items():
        timings = await _time(call, calls)
        if name.startswith("page 20"):
            timings = [t / 20 for t in timings]
        p50, p95 = statistics.median(timings), _percentile(timings, 0.95)
        worst = max(worst, p95)
        print(f"{name:52} {p50:8.2f} {p95:8.2f} {p95 / TARGET_P95_MS:10.3f}×")
    print(
        f"worst p95 {worst:.1f} ms = {worst / TARGET_P95_MS:.3f} × the "
        f"{TARGET_P95_MS:.0f} ms target"
    )
    await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--keep", type=Path, help="fill the store in this folder and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="console-search-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "store.db"
        if path.exists():
            path.unlink()
        asyncio.run(_create(path))
        filler = Filler(path)
        started = time.perf_counter()
        filler.fill(args.messages)
        filler.close()
        size = path.stat().st_size / 1e6
        print(
            f"filled {args.messages:,} messages in {time.perf_counter() - started:.0f} s "
            f"({size:,.0f} MB)"
        )
        asyncio.run(_run(path, args.calls, filler.samples, filler.start))


async def _create(path: Path) -> None:
    store = Store(f"sqlite+aiosqlite:///{path}")
    await store.start()
    await store.close()


if __name__ == "__main__":
    main()
