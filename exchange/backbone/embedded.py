"""The embedded backbone: an append-only log in one SQLite file, the zero-setup default.

What the file holds::

    records(topic, pos, key, value, headers, created, dedup_key)  the log, one partition a topic
    group_offsets(grp, topic, next_pos)                           committed next positions
    group_leases(grp, topic, member, expires)                     which member consumes a topic

Writes: one writer thread per backbone drains a queue of operations and applies all of them in one
transaction (group commit); then every caller's future is resolved.  An operation checks what
can refuse it (a lease another member holds) before it writes anything, so a refused one leaves
nothing behind and needs no savepoint; any other failure rolls the whole transaction back and
fails every operation in it.  With ``synchronous="FULL"`` a record survives power loss once
``publish`` returns, with ``"NORMAL"`` it survives a killed process.

The next position of each topic is kept in memory by the writer and records just committed are
kept for this process's consumers (``embedded_memory``); the file stays the durable copy, and
what other processes write to it is noticed through SQLite's ``PRAGMA data_version`` at every
write transaction and, while fetchers wait, every ``_POLL_S``.  A dedup key is checked by the
unique index the insert goes through anyway.  Fetches that find their records in memory return
at once; the others read in worker threads on their own connections: in WAL mode readers never
wait for the writer and the event loop never waits for the disk.

Offsets are per topic, start at 0 and increase by one per record; retention
(``embedded_retention``) deletes old records every group has committed past, so a new group
may find the first records gone: consumers must not rely on the absence of gaps.

Groups: within a group one member at a time owns a topic, through a lease row renewed on fetch
and commit.  A member that neither fetches nor commits for ``lease_seconds`` may lose the topic
to a standby, which then resumes from the committed offset (at least once, never lost).  Leases
live in the file, so this holds across processes as well as between objects of one process.

A backbone object belongs to the event loop that called ``start()``; a consumer object is used
by one coroutine at a time (like a Kafka consumer).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import queue
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exchange import metrics
from exchange.backbone.base import (
    Backbone,
    Capabilities,
    ConsumedRecord,
    Consumer,
    OwnershipLost,
    Record,
    TopicPartition,
)
from exchange.backbone.embedded_memory import Entry, LogTail, RecentRecords
from exchange.backbone.embedded_retention import Retention, apply_retention
from exchange.errors import BackboneError, ConfigError
from exchange.owner_only import FOLDER_MODE, private_file

log = logging.getLogger(__name__)

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    pos INTEGER NOT NULL,
    key TEXT,
    value BLOB NOT NULL,
    headers TEXT,
    created REAL NOT NULL,
    dedup_key TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS records_by_position ON records (topic, pos);
CREATE UNIQUE INDEX IF NOT EXISTS records_by_dedup_key ON records (topic, dedup_key)
    WHERE dedup_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS group_offsets (
    grp TEXT NOT NULL, topic TEXT NOT NULL, next_pos INTEGER NOT NULL,
    PRIMARY KEY (grp, topic)
);
CREATE TABLE IF NOT EXISTS group_leases (
    grp TEXT NOT NULL, topic TEXT NOT NULL, member TEXT NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (grp, topic)
);
"""

_BUSY_TIMEOUT_S = 10.0  # another process holding the write lock longer than this is an error
_POLL_S = 0.025  # how often waiting fetchers look for writes made by other processes
_MAX_BATCH = 1000  # operations per group-commit transaction
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes the -wal file is cut back to once it restarts
_STOP = object()

# One row of the records table, ready to insert: topic, key, value, headers json, dedup key,
# and the headers themselves for the in-memory copy.
_Row = tuple[str, str | None, bytes, str | None, str | None, Mapping[str, str]]


@dataclass(slots=True)
class _Writes:
    """What one group-commit transaction knows and adds: the positions, the records written."""

    tail: LogTail
    added: list[tuple[str, Entry]]


_WriteFn = Callable[[sqlite3.Connection, float, _Writes], Any]


@dataclass(slots=True)
class _Pending:
    """One operation queued for the writer thread and the future its caller awaits; an
    operation without ``apply`` only asks the writer to look for other connections' writes."""

    apply: _WriteFn | None
    wakes_fetchers: bool
    future: asyncio.Future[Any]


@dataclass(slots=True)
class _Claim:
    """A topic this member owns: where its next fetch starts and when its lease runs out."""

    cursor: int
    expires: float


@dataclass(frozen=True, slots=True)
class _ClaimResult:
    owned: bool
    continuous: bool  # the lease was already ours: keep the in-memory cursor
    committed: int
    expires: float


class EmbeddedBackbone(Backbone):
    capabilities = Capabilities(
        transactional=True, deduplicates_publish=True, multi_process_groups=True
    )

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "FULL",
        lease_seconds: float = 10.0,
        retention: Retention | None = None,
        retention_check_seconds: float = 60.0,
    ) -> None:
        mode = synchronous.upper()
        if mode not in ("FULL", "NORMAL"):
            raise ConfigError(
                f"synchronous={synchronous!r} is not supported; use 'FULL' (survives power "
                "loss) or 'NORMAL' (survives a killed process)"
            )
        if not lease_seconds > 0:
            raise ConfigError(f"lease_seconds={lease_seconds!r} must be a positive number")
        if not retention_check_seconds > 0:
            raise ConfigError(
                f"retention_check_seconds={retention_check_seconds!r} must be a positive number"
            )
        self.path = Path(path)
        self.synchronous = mode
        self.lease_seconds = float(lease_seconds)
        self.retention = retention or Retention()  # keeps everything unless told otherwise
        self._retention_every = float(retention_check_seconds)
        self._retention_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: queue.SimpleQueue[_Pending | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._stopping = False  # the writer was told to stop: nothing more may be queued
        self._readers: list[sqlite3.Connection] = []
        self._watch_task: asyncio.Task[None] | None = None
        self._waiters = 0
        self._tail = LogTail()  # the writer thread's
        self._ends: dict[str, int] = {}  # the event loop's copy: next position of each topic
        self._recent = RecentRecords()
        self._data_event = asyncio.Event()
        self._consumers: weakref.WeakSet[EmbeddedConsumer] = weakref.WeakSet()
        self._metrics = metrics.current()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._closed:
            raise BackboneError(f"the embedded backbone at {self.path} is closed; open a new one")
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        writer = await asyncio.to_thread(self._open_storage)
        self._ends = dict(self._tail.ends)
        self._thread = threading.Thread(
            target=self._write_loop, args=(writer,), name="backbone-writer", daemon=True
        )
        self._thread.start()
        if self.retention.active:
            self._retention_task = self._loop.create_task(self._keep_retention())

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread is None:
            return
        if self._retention_task is not None:
            self._retention_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention_task
        for consumer in list(self._consumers):
            await consumer.close()
        self._stopping = True
        self._queue.put(_STOP)  # queued publishes ahead of it are still written
        self._notify()  # waiting fetchers return now rather than at their timeout
        await asyncio.to_thread(self._thread.join)
        if self._watch_task is not None:
            await self._watch_task  # it stops at its next tick
        for db in self._readers:
            db.close()
        self._readers.clear()

    # -- the Backbone interface -------------------------------------------------------------

    async def publish(self, records: Sequence[Record]) -> None:
        self._check_usable("publish")
        if not records:
            return
        rows = [_to_row(record) for record in records]
        started = time.perf_counter()
        await self._submit(lambda db, now, writes: _insert_records(db, now, rows, writes))
        self._metrics.published("embedded", "publish", time.perf_counter() - started)

    async def consumer(self, group: str, topics: Sequence[str]) -> Consumer:
        self._check_usable("consume")
        if not group or not topics or any(not topic for topic in topics):
            raise BackboneError("a consumer needs a non-empty group name and at least one topic")
        consumer = EmbeddedConsumer(self, group, list(dict.fromkeys(topics)))
        self._consumers.add(consumer)
        return consumer

    async def publish_and_commit(
        self,
        records: Sequence[Record],
        consumer: Consumer,
        offsets: Mapping[TopicPartition, int],
    ) -> None:
        """Outputs and input offsets commit in one SQLite transaction, or neither does."""
        self._check_usable("publish")
        if not isinstance(consumer, EmbeddedConsumer) or consumer._backbone is not self:
            raise BackboneError("publish_and_commit needs a consumer made by this same backbone")
        consumer._check_open()
        rows = [_to_row(record) for record in records]
        commits = consumer._commit_positions(offsets)
        group, member, lease = consumer.group, consumer.member_id, self.lease_seconds

        def apply(db: sqlite3.Connection, now: float, writes: _Writes) -> float:
            expires = _renew_leases(db, now, group, member, commits, lease)  # may refuse
            _insert_records(db, now, rows, writes)
            _write_offsets(db, group, commits)
            return expires

        started = time.perf_counter()
        expires = await self._submit(apply)
        self._metrics.published("embedded", "publish_and_commit", time.perf_counter() - started)
        consumer._renewed(commits, expires)

    async def backlog(self, group: str, topics: Sequence[str]) -> dict[str, int]:
        """From the file, not from memory: other processes' writes and commits count too.
        Three index probes per topic in one read snapshot."""
        self._check_usable("read the backlog")
        wanted = list(dict.fromkeys(topics))
        counts: dict[str, int] = await self._read(lambda db: _read_backlog(db, group, wanted))
        return counts

    async def probe(self) -> None:
        """The file is still there and writable, and answers a read.  An open connection
        goes on working on a file deleted under it, so the path is looked at too: what is
        written to a deleted file is lost at the next start."""
        self._check_usable("probe")
        if not self.path.is_file():
            raise BackboneError(
                f"the embedded backbone's file {self.path} is gone; restore it or restart the "
                "hub (what was written since it went is lost)"
            )
        if not os.access(self.path, os.W_OK) or not os.access(self.path.parent, os.W_OK):
            raise BackboneError(
                f"{self.path} or its folder is not writable; make both writable by the hub"
            )
        await self._read(lambda db: db.execute("SELECT 1 FROM group_offsets LIMIT 1").fetchall())

    # -- storage ----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        db.execute(f"PRAGMA synchronous={self.synchronous}")
        # A WAL file keeps the largest size it ever reached (a retention pass can write tens
        # of MB in one transaction); past this limit it is cut back whenever it restarts.
        db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        return db

    def _open_storage(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        except OSError as exc:
            raise BackboneError(
                f"cannot create the folder {self.path.parent} for the embedded backbone: "
                f"{exc.strerror}; create it or point EXCHANGE_BACKBONE elsewhere"
            ) from exc
        # Owner-only before SQLite first opens it; its -wal and -shm files follow its mode.
        private_file(self.path)
        try:
            db = self._connect()
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc
        try:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise BackboneError(
                    f"the embedded backbone at {self.path} cannot use WAL mode (got {mode}); "
                    "put it on a local disk"
                )
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                raise BackboneError(
                    f"{self.path} was written by a newer version of the hub (format {version}); "
                    "upgrade the hub or use another file"
                )
            db.executescript(
                f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version={_SCHEMA_VERSION};COMMIT;"
            )
            db.execute("BEGIN")
            self._tail.look(db)
            db.execute("COMMIT")
            return db
        except (sqlite3.Error, BackboneError) as exc:
            db.close()
            if isinstance(exc, BackboneError):
                raise
            raise _translate(exc, self.path) from exc

    def _write_loop(self, db: sqlite3.Connection) -> None:
        """The writer thread: drain the queue, write each batch in one transaction."""
        stopping = False
        while not stopping:
            batch: list[_Pending] = []
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stopping = True
                elif isinstance(item, _Pending):
                    batch.append(item)
                if len(batch) >= _MAX_BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write_batch(db, batch)
        db.close()

    def _write_batch(self, db: sqlite3.Connection, batch: list[_Pending]) -> None:
        outcomes: list[tuple[_Pending, Any, BaseException | None]] = []
        writes = _Writes(self._tail, [])
        moved: dict[str, int] = {}
        writing = any(pending.apply is not None for pending in batch)
        try:
            # a batch of looks only reads: it takes no write lock another process may hold
            db.execute("BEGIN IMMEDIATE" if writing else "BEGIN")
            try:
                moved = self._tail.look(db)
                now = time.time()
                for pending in batch:
                    try:
                        result = None if pending.apply is None else pending.apply(db, now, writes)
                    except BackboneError as exc:  # refused before it wrote anything
                        outcomes.append((pending, None, exc))
                    else:
                        outcomes.append((pending, result, None))
                db.execute("COMMIT")
            except BaseException:
                self._tail.stale = True  # positions taken in the rolled-back transaction
                with contextlib.suppress(sqlite3.Error):
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            error = _translate(exc, self.path)
            outcomes = [(p, None, _copy_error(error, exc)) for p in batch]
            writes.added, moved = [], {}
        except Exception as exc:  # a bug must fail the callers, not kill the writer thread
            outcomes = [(p, None, exc) for p in batch]
            writes.added, moved = [], {}
        ends = dict(moved)
        for topic, _ in writes.added:
            ends[topic] = self._tail.ends[topic]
        wake = bool(ends) or any(p.wakes_fetchers and err is None for p, _, err in outcomes)
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(self._resolve, outcomes, wake, ends, writes.added)

    def _resolve(
        self,
        outcomes: list[tuple[_Pending, Any, BaseException | None]],
        wake: bool,
        ends: Mapping[str, int],
        added: list[tuple[str, Entry]],
    ) -> None:
        for topic, end in ends.items():
            if end > self._ends.get(topic, 0):
                self._ends[topic] = end
        for topic, entry in added:
            self._recent.add(topic, entry)
        for pending, result, error in outcomes:
            if pending.future.done():  # the caller was cancelled; the write happened anyway
                continue
            if error is None:
                pending.future.set_result(result)
            else:
                pending.future.set_exception(error)
        if wake:
            self._notify()

    async def _submit(self, apply: _WriteFn | None, *, wakes_fetchers: bool = False) -> Any:
        if self._stopping:
            raise BackboneError(
                f"the embedded backbone at {self.path} is closed; open and start a new one"
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(_Pending(apply, wakes_fetchers, future))
        return await future

    async def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run a read on a pooled connection in a worker thread."""

        def run() -> Any:
            try:
                db = self._readers.pop()
            except IndexError:
                db = None
            try:
                if db is None:
                    db = self._connect()
                result = fn(db)
            except sqlite3.Error as exc:
                if db is not None:
                    db.close()
                raise _translate(exc, self.path) from exc
            if self._stopping:
                db.close()
            else:
                self._readers.append(db)
            return result

        return await asyncio.to_thread(run)

    def _check_usable(self, action: str) -> None:
        if self._closed:
            raise BackboneError(
                f"cannot {action}: the embedded backbone at {self.path} is closed; "
                "open and start a new one"
            )
        if self._thread is None:
            raise BackboneError(
                f"cannot {action}: the embedded backbone at {self.path} is not started; "
                "call 'await backbone.start()' first"
            )

    async def _keep_retention(self) -> None:
        """Every ``retention_check_seconds``, delete what the retention policy lets go; a pass
        that had more to delete than it may at once is followed by the next one at once."""
        policy = self.retention
        more = False
        while True:
            if not more:
                await asyncio.sleep(self._retention_every)
            try:
                deleted: int = await self._submit(
                    lambda db, now, writes: apply_retention(db, now, writes.tail, policy)
                )
            except BackboneError as exc:  # the disk, a lock: the next pass tries again
                log.warning("retention of the embedded backbone at %s failed: %s", self.path, exc)
                more = False
                continue
            except Exception:  # a bug must not end retention for the life of the process
                log.exception("retention of the embedded backbone at %s failed", self.path)
                more = False
                continue
            more = deleted >= policy.chunk
            if deleted:
                log.debug("retention deleted %d records from %s", deleted, self.path)

    # -- waking fetchers ---------------------------------------------------------------------

    def _notify(self) -> None:
        self._data_event.set()
        self._data_event = asyncio.Event()

    async def _wait(self, event: asyncio.Event, timeout: float) -> None:
        """Wait until ``event`` fires (a write in this process) or another process writes."""
        if event.is_set():
            return
        self._waiters += 1
        if self._watch_task is None and not self._closed:
            self._watch_task = asyncio.get_running_loop().create_task(self._watch())
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        finally:
            self._waiters -= 1

    async def _look(self) -> None:
        """Have the writer look for records other connections committed (it wakes the
        fetchers if there are any)."""
        await self._submit(None)

    async def _watch(self) -> None:
        """While fetchers wait, look for other connections' writes every ``_POLL_S``."""
        try:
            while True:
                await asyncio.sleep(_POLL_S)
                if self._waiters == 0 or self._closed:
                    break
                await self._look()
        except BackboneError:
            self._notify()  # let the fetchers meet the error on their own reads
        finally:
            self._watch_task = None


class EmbeddedConsumer(Consumer):
    """One member of a group; owns each of its topics while it holds that topic's lease."""

    def __init__(self, backbone: EmbeddedBackbone, group: str, topics: list[str]) -> None:
        self._backbone = backbone
        self.group = group
        self.topics = topics
        self.member_id = uuid.uuid4().hex
        self._owned: dict[str, _Claim] = {}
        self._foreign: dict[str, float] = {}  # topic -> when another member's lease runs out
        self._closed = False
        self._turn = 0  # which owned topic is read first, so no topic starves the others

    async def fetch(self, max_records: int = 500, timeout: float = 0.5) -> list[ConsumedRecord]:
        self._check_open()
        if max_records < 1:
            raise BackboneError(f"max_records={max_records} must be at least 1")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        looked = False
        while True:
            event = self._backbone._data_event  # taken before reading, so no write is missed
            await self._claim_topics()
            if self._owned:
                records = await self._read_owned(max_records)
                if records:
                    return records
            remaining = deadline - loop.time()
            if remaining <= 0:
                if looked:
                    return []
                # what this process knows may be older than what other processes committed
                # before this fetch: one look at the file before answering "nothing"
                looked = True
                await self._backbone._look()
            else:
                await self._backbone._wait(event, min(remaining, self._until_lease_check()))
            self._check_open()

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        self._check_open()
        commits = self._commit_positions(offsets)
        if not commits:
            return
        group, member, lease = self.group, self.member_id, self._backbone.lease_seconds

        def apply(db: sqlite3.Connection, now: float, writes: _Writes) -> float:
            expires = _renew_leases(db, now, group, member, commits, lease)  # may refuse
            _write_offsets(db, group, commits)
            return expires

        expires = await self._backbone._submit(apply)
        self._renewed(commits, expires)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._owned.clear()
        backbone = self._backbone
        if backbone._thread is None or backbone._stopping:
            return
        group, member = self.group, self.member_id

        def release(db: sqlite3.Connection, now: float, writes: _Writes) -> None:
            db.execute("DELETE FROM group_leases WHERE grp=? AND member=?", (group, member))

        await backbone._submit(release, wakes_fetchers=True)

    def _abandon(self) -> None:
        """Stop using this member without releasing its leases, as a crash would (for tests)."""
        self._closed = True
        self._owned.clear()
        self._backbone._consumers.discard(self)

    # -- internals ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise BackboneError(
                f"this consumer of group {self.group!r} is closed; ask the backbone for a new one"
            )
        self._backbone._check_usable("consume")

    def _commit_positions(self, offsets: Mapping[TopicPartition, int]) -> dict[str, int]:
        commits: dict[str, int] = {}
        for tp, offset in offsets.items():
            if tp.topic not in self.topics or tp.partition != 0:
                raise BackboneError(
                    f"cannot commit {tp.topic}[{tp.partition}]: this consumer reads partition 0 "
                    f"of {', '.join(self.topics)}"
                )
            if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
                raise BackboneError(f"commit offset {offset!r} must be an integer >= 0")
            commits[tp.topic] = offset
        return commits

    def _renewed(self, commits: Mapping[str, int], expires: float) -> None:
        for topic in commits:
            claim = self._owned.get(topic)
            if claim is not None:
                claim.expires = expires

    def _until_lease_check(self) -> float:
        """Seconds until a lease needs renewing or another member's lease runs out."""
        now = time.time()
        renew_every = self._backbone.lease_seconds / 3
        times = [claim.expires - 2 * renew_every for claim in self._owned.values()]
        times += list(self._foreign.values())
        if not times:
            return float("inf")
        return max(min(times) - now, _POLL_S)

    async def _claim_topics(self) -> None:
        """Renew the leases due for renewal and take any topic whose lease is free."""
        backbone = self._backbone
        now = time.time()
        renew_at = 2 * backbone.lease_seconds / 3  # renew once a third of the lease has passed
        wanted = [t for t, claim in self._owned.items() if now >= claim.expires - renew_at]
        free = [t for t in self.topics if t not in self._owned]
        if free:
            group = self.group
            leases: dict[str, tuple[str, float]] = await backbone._read(
                lambda db: _read_leases(db, group, free)
            )
            for topic in free:
                holder = leases.get(topic)
                if holder is None or holder[1] <= now or holder[0] == self.member_id:
                    wanted.append(topic)
                else:
                    self._foreign[topic] = holder[1]
        if not wanted:
            return
        group, member, lease = self.group, self.member_id, backbone.lease_seconds
        results: dict[str, _ClaimResult] = await backbone._submit(
            lambda db, at, writes: _claim(db, at, group, member, wanted, lease)
        )
        for topic, result in results.items():
            claim = self._owned.get(topic)
            if not result.owned:
                self._owned.pop(topic, None)
                self._foreign[topic] = result.expires
            elif claim is not None and result.continuous:
                claim.expires = result.expires
            else:
                self._owned[topic] = _Claim(result.committed, result.expires)
                self._foreign.pop(topic, None)

    async def _read_owned(self, max_records: int) -> list[ConsumedRecord]:
        cursors = {topic: claim.cursor for topic, claim in self._owned.items()}
        order = list(cursors)
        self._turn = (self._turn + 1) % len(order)
        order = order[self._turn :] + order[: self._turn]
        records = self._read_memory(order, cursors, max_records)
        if records is None:
            records = await self._backbone._read(
                lambda db: _read_records(db, order, cursors, max_records)
            )
        for record in records:
            claim = self._owned.get(record.topic)
            if claim is not None:
                claim.cursor = record.offset + 1
        return records

    def _read_memory(
        self, order: list[str], cursors: Mapping[str, int], limit: int
    ) -> list[ConsumedRecord] | None:
        """The records from memory, or None if some must come from the file: those written
        by another connection, or older than what is kept."""
        backbone = self._backbone
        records: list[ConsumedRecord] = []
        for topic in order:
            if len(records) >= limit:
                break
            cursor = cursors[topic]
            if cursor >= backbone._ends.get(topic, 0):
                continue  # nothing there, as of the writer's last look at the file
            held = backbone._recent.read(topic, cursor, limit - len(records))
            if held is None:
                return None
            records.extend(held)
        return records


# -- SQL, run by the writer thread or a reader thread ------------------------------------------


def _to_row(record: Record) -> _Row:
    if not record.topic:
        raise BackboneError("a record needs a non-empty topic")
    if not isinstance(record.value, bytes | bytearray | memoryview):
        raise BackboneError(
            f"record value for topic {record.topic!r} must be bytes, not {type(record.value)}"
        )
    headers = dict(record.headers)
    encoded = json.dumps(headers) if headers else None
    return (record.topic, record.key, bytes(record.value), encoded, record.dedup_key, headers)


_INSERT = (
    "INSERT INTO records (topic, pos, key, value, headers, created, dedup_key)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# The unique index on (topic, dedup_key) finds a republished record during the insert itself;
# a clash of positions still raises, as it must.
_INSERT_ONCE = _INSERT + " ON CONFLICT (topic, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING"


def _insert_records(db: sqlite3.Connection, now: float, rows: list[_Row], writes: _Writes) -> None:
    ends = writes.tail.ends
    for topic, key, value, encoded, dedup_key, headers in rows:
        pos = ends.get(topic, 0)
        cursor = db.execute(
            _INSERT if dedup_key is None else _INSERT_ONCE,
            (topic, pos, key, value, encoded, now, dedup_key),
        )
        if cursor.rowcount != 1:
            continue  # a retried publish: the first copy is already durable
        ends[topic] = pos + 1
        writes.tail.max_id = max(writes.tail.max_id, cursor.lastrowid or 0)
        writes.added.append((topic, (pos, key, value, headers, now)))


def _renew_leases(
    db: sqlite3.Connection,
    now: float,
    group: str,
    member: str,
    commits: Mapping[str, int],
    lease: float,
) -> float:
    """Renew this member's leases on the topics it commits, or refuse the commit if it no
    longer holds one of them.  A refusal may leave renewed the leases the member does hold,
    which only says what is true: it is alive."""
    expires = now + lease
    for topic in commits:
        renewed = db.execute(
            "UPDATE group_leases SET expires=? WHERE grp=? AND topic=? AND member=?",
            (expires, group, topic, member),
        ).rowcount
        if renewed != 1:
            raise OwnershipLost(
                f"commit refused: this consumer no longer owns topic {topic!r} in group "
                f"{group!r} (it was idle longer than the lease or was closed); the records "
                "go to the new owner, so drop this batch and fetch again",
                frozenset(TopicPartition(topic) for topic in commits),
            )
    return expires


def _write_offsets(db: sqlite3.Connection, group: str, commits: Mapping[str, int]) -> None:
    db.executemany(
        "INSERT INTO group_offsets (grp, topic, next_pos) VALUES (?, ?, ?)"
        " ON CONFLICT (grp, topic) DO UPDATE SET next_pos=excluded.next_pos",
        [(group, topic, pos) for topic, pos in commits.items()],
    )


def _claim(
    db: sqlite3.Connection,
    now: float,
    group: str,
    member: str,
    topics: list[str],
    lease: float,
) -> dict[str, _ClaimResult]:
    results: dict[str, _ClaimResult] = {}
    for topic in topics:
        row = db.execute(
            "SELECT member, expires FROM group_leases WHERE grp=? AND topic=?", (group, topic)
        ).fetchone()
        if row is not None and row[0] != member and row[1] > now:
            results[topic] = _ClaimResult(False, False, 0, row[1])
            continue
        db.execute(
            "INSERT INTO group_leases (grp, topic, member, expires) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (grp, topic) DO UPDATE SET member=excluded.member,"
            " expires=excluded.expires",
            (group, topic, member, now + lease),
        )
        committed = db.execute(
            "SELECT next_pos FROM group_offsets WHERE grp=? AND topic=?", (group, topic)
        ).fetchone()
        continuous = row is not None and row[0] == member
        results[topic] = _ClaimResult(
            True, continuous, committed[0] if committed else 0, now + lease
        )
    return results


def _read_leases(
    db: sqlite3.Connection, group: str, topics: list[str]
) -> dict[str, tuple[str, float]]:
    marks = ",".join("?" * len(topics))
    rows = db.execute(
        f"SELECT topic, member, expires FROM group_leases WHERE grp=? AND topic IN ({marks})",
        (group, *topics),
    ).fetchall()
    return {topic: (member, expires) for topic, member, expires in rows}


def _read_backlog(db: sqlite3.Connection, group: str, topics: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    db.execute("BEGIN")  # one snapshot: a commit between the probes cannot make it negative
    try:
        for topic in topics:
            # two subqueries: SQLite answers a lone MIN or MAX from the index end, not a scan
            last, first = db.execute(
                "SELECT (SELECT MAX(pos) FROM records WHERE topic=?),"
                " (SELECT MIN(pos) FROM records WHERE topic=?)",
                (topic, topic),
            ).fetchone()
            if last is None:
                counts[topic] = 0
                continue
            committed = db.execute(
                "SELECT next_pos FROM group_offsets WHERE grp=? AND topic=?", (group, topic)
            ).fetchone()
            # Retention removes only records every group is past, so the positions from the
            # first kept one to the last have no gaps; a group that never committed starts
            # at the first kept record.
            start = max(first, committed[0] if committed else 0)
            counts[topic] = max(last + 1 - start, 0)
    finally:
        db.execute("COMMIT")
    return counts


def _read_records(
    db: sqlite3.Connection, order: list[str], cursors: Mapping[str, int], limit: int
) -> list[ConsumedRecord]:
    records: list[ConsumedRecord] = []
    for topic in order:
        if len(records) >= limit:
            break
        rows = db.execute(
            "SELECT pos, key, value, headers, created FROM records"
            " WHERE topic=? AND pos>=? ORDER BY pos LIMIT ?",
            (topic, cursors[topic], limit - len(records)),
        ).fetchall()
        records.extend(
            ConsumedRecord(
                topic=topic,
                partition=0,
                offset=pos,
                value=value,
                key=key,
                headers=json.loads(headers) if headers else {},
                timestamp=created,
            )
            for pos, key, value, headers, created in rows
        )
    return records


# -- errors ------------------------------------------------------------------------------------


def _translate(exc: sqlite3.Error, path: Path) -> BackboneError:
    """Say what went wrong with the file and what to do about it."""
    text = str(exc)
    lowered = text.lower()
    if "full" in lowered:
        advice = f"the disk holding {path} is full; free some space and retry"
    elif "readonly" in lowered or "read-only" in lowered:
        advice = f"{path} is read-only; make the file and its folder writable by the hub"
    elif "unable to open" in lowered:
        advice = f"cannot open {path}; check that its folder exists and is writable"
    elif "locked" in lowered or "busy" in lowered:
        advice = (
            f"{path} stayed locked by another process for {_BUSY_TIMEOUT_S:.0f} s; "
            "check for a stuck process using the same file"
        )
    elif "not a database" in lowered or "malformed" in lowered:
        advice = f"{path} is not a usable backbone file; restore it from backup or move it away"
    else:
        advice = f"the embedded backbone at {path} failed; check the file and its disk"
    return BackboneError(f"{advice} (sqlite: {text})")


def _copy_error(error: BackboneError, cause: BaseException) -> BackboneError:
    """A fresh exception per waiting caller, so tracebacks do not pile up on one object."""
    copy = BackboneError(str(error))
    copy.__cause__ = cause
    return copy
