"""What the embedded backbone keeps in memory beside its SQLite log; the log stays the durable copy.

``LogTail`` belongs to the writer thread: the next position of every topic, so an insert needs
no ``SELECT MAX(pos)``.  It is loaded from the file at start and checked at every write
transaction (and at every look a waiting fetcher asks for) against SQLite's ``PRAGMA
data_version`` on the writer's connection, which changes only when *another* connection (another
process, or another backbone object on the same file) has committed.  Then the rows written
since the highest row id known are read to bring the positions up to date.  Row ids only grow:
SQLite gives a new row the highest id plus one, and the newest record of a topic is never
deleted, so the highest id stays in the table.

``RecentRecords`` belongs to the event loop: the records this process's writer committed last,
a run of consecutive positions per topic exactly as they are in the log, so that a consumer in
the same process that is close behind reads them without a thread hop and without SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field

from exchange.backbone.base import ConsumedRecord

# A record as committed: position, key, value, headers, creation time.
Entry = tuple[int, str | None, bytes, Mapping[str, str], float]


class LogTail:
    """The next position of each topic as the writer thread knows it."""

    def __init__(self) -> None:
        self.ends: dict[str, int] = {}
        self.max_id = 0
        self._version: int | None = None  # the writer connection's data_version at the last look
        self.stale = True  # a rolled-back transaction may have moved ``ends``: load afresh

    def look(self, db: sqlite3.Connection) -> dict[str, int]:
        """Bring the positions up to date with what other connections wrote; run inside a
        transaction of ``db`` (the snapshot the caller then writes on).  Returns the
        topics whose end moved."""
        version = int(db.execute("PRAGMA data_version").fetchone()[0])
        if self.stale:
            self._load(db)
            self._version, self.stale = version, False
            return dict(self.ends)
        if version == self._version:
            return {}
        self._version = version
        moved: dict[str, int] = {}
        rows = db.execute(
            "SELECT topic, MAX(pos), MAX(id) FROM records WHERE id > ? GROUP BY topic",
            (self.max_id,),
        ).fetchall()
        for topic, pos, row_id in rows:
            if pos + 1 > self.ends.get(topic, 0):
                self.ends[topic] = moved[topic] = pos + 1
            self.max_id = max(self.max_id, row_id)
        return moved

    def _load(self, db: sqlite3.Connection) -> None:
        # One index probe per topic (there are few), not a scan of the whole log.
        ends: dict[str, int] = {}
        topic = db.execute("SELECT MIN(topic) FROM records").fetchone()[0]
        while topic is not None:
            last = db.execute("SELECT MAX(pos) FROM records WHERE topic=?", (topic,)).fetchone()
            ends[topic] = last[0] + 1
            after = db.execute("SELECT MIN(topic) FROM records WHERE topic>?", (topic,))
            topic = after.fetchone()[0]
        self.ends = ends
        self.max_id = db.execute("SELECT COALESCE(MAX(id), 0) FROM records").fetchone()[0]


@dataclass(slots=True)
class _Run:
    start: int  # position of entries[0]
    entries: list[Entry] = field(default_factory=list)
    size: int = 0  # bytes of values held

    @property
    def end(self) -> int:
        return self.start + len(self.entries)


class RecentRecords:
    """The newest committed records of each topic, for consumers in this process."""

    def __init__(self, max_records: int = 2048, max_bytes: int = 4 * 1024 * 1024) -> None:
        self._max_records = max_records
        self._max_bytes = max_bytes
        self._runs: dict[str, _Run] = {}

    def add(self, topic: str, entry: Entry) -> None:
        run = self._runs.get(topic)
        if run is None or run.end != entry[0]:
            # records from another writer came in between: what is held no longer touches
            # the new one, so start a new run rather than leave a hole in it
            run = self._runs[topic] = _Run(entry[0])
        run.entries.append(entry)
        run.size += len(entry[2])
        if len(run.entries) > self._max_records or run.size > self._max_bytes:
            self._trim(run)

    def read(self, topic: str, cursor: int, limit: int) -> list[ConsumedRecord] | None:
        """Records from ``cursor`` on, or None when the run does not hold ``cursor``."""
        run = self._runs.get(topic)
        if run is None or not run.start <= cursor < run.end:
            return None
        first = cursor - run.start
        return [
            ConsumedRecord(topic, 0, pos, value, key, dict(headers), created)
            for pos, key, value, headers, created in run.entries[first : first + limit]
        ]

    def _trim(self, run: _Run) -> None:
        # drop the oldest at once down to three quarters, so trimming costs little per record
        keep_records, keep_bytes = self._max_records * 3 // 4, self._max_bytes * 3 // 4
        drop, size, newest = 0, run.size, len(run.entries) - 1
        while drop < newest and (len(run.entries) - drop > keep_records or size > keep_bytes):
            size -= len(run.entries[drop][2])
            drop += 1
        del run.entries[:drop]
        run.start += drop
        run.size = size
