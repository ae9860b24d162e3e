"""Retention for the embedded log: delete records no group needs any more, like Kafka's
``retention.ms`` and ``retention.bytes``.

A record may go once every group that has committed on its topic has committed past it, and
then when it is older than ``retention_ms`` or when the topic's values add up to more than
``retention_bytes`` (the oldest go first).  Unlike Kafka, a record not yet committed by every
group is kept whatever its age: a slow or stopped stage loses nothing.  The newest record of
a topic always stays, so positions go on from it (and the highest row id stays in the file,
which ``LogTail`` relies on).  The file does not shrink: SQLite reuses the freed pages.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from exchange.backbone.embedded_memory import LogTail
from exchange.errors import ConfigError

UNLIMITED = -1


@dataclass(frozen=True, slots=True)
class Retention:
    ms: int = UNLIMITED  # records older than this may go; -1 keeps them whatever their age
    bytes: int = UNLIMITED  # a topic's values above this may go, oldest first; -1: no limit
    chunk: int = 10_000  # most records looked at per topic and pass, so a pass stays short

    def __post_init__(self) -> None:
        for name, value in (("retention_ms", self.ms), ("retention_bytes", self.bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < UNLIMITED:
                raise ConfigError(
                    f"{name}={value!r} must be a whole number >= 0, or -1 for no limit"
                )

    @property
    def active(self) -> bool:
        return self.ms != UNLIMITED or self.bytes != UNLIMITED


def apply_retention(db: sqlite3.Connection, now: float, tail: LogTail, policy: Retention) -> int:
    """Delete what the policy lets go, inside the caller's write transaction; returns how many
    records went (``policy.chunk`` or more for a topic means there may be more to delete)."""
    deleted = 0
    oldest_kept = None if policy.ms == UNLIMITED else now - policy.ms / 1000
    floors = db.execute("SELECT topic, MIN(next_pos) FROM group_offsets GROUP BY topic")
    for topic, floor in floors.fetchall():
        limit = min(floor, tail.ends.get(topic, 0) - 1)  # the newest record stays
        if limit <= 0:
            continue
        excess = 0
        if policy.bytes != UNLIMITED:
            total = db.execute(
                "SELECT COALESCE(SUM(LENGTH(value)), 0) FROM records WHERE topic=?", (topic,)
            ).fetchone()[0]
            excess = total - policy.bytes
        cut = None  # every record before it goes: the oldest ones, while a rule lets them go
        rows = db.execute(
            "SELECT pos, created, LENGTH(value) FROM records WHERE topic=? AND pos<?"
            " ORDER BY pos LIMIT ?",
            (topic, limit, policy.chunk),
        )
        for pos, created, size in rows:  # read one by one: most passes stop at the first
            if not (excess > 0 or (oldest_kept is not None and created < oldest_kept)):
                break
            cut, excess = pos + 1, excess - size
        rows.close()
        if cut is not None:
            deleted += db.execute(
                "DELETE FROM records WHERE topic=? AND pos<?", (topic, cut)
            ).rowcount
    return deleted
