"""Sender identities and their bearer keys.

A key is 32 random bytes; only its SHA-256 is kept.  A slow password hash is
not needed: a key this long cannot be guessed from its hash, and a fast hash
keeps authentication off the hot path's budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from exchange.envelope import utc_now
from exchange.errors import ConfigError
from exchange.store.models import ApiKeyRow, SenderRow

log = logging.getLogger(__name__)

KEY_PREFIX = "exk_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# "sender": submits and follows its own messages; "operator": also reads any message and
# acts (replays); "viewer": reads any message and the console, but may not act.
ROLES = ("sender", "operator", "viewer")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a key belongs to."""

    sender: str
    role: str

    @property
    def is_operator(self) -> bool:
        """May act: replay, discard."""
        return self.role == "operator"

    @property
    def reads_any(self) -> bool:
        """May read every sender's messages and the dead letters (operators and viewers)."""
        return self.role in ("operator", "viewer")


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: str
    sender: str
    role: str
    created_at: datetime
    revoked_at: datetime | None


class KeyStore:
    # A revoked key stops working within this many seconds on every process.
    CACHE_SECONDS = 5.0

    # How often a running hub re-reads the keys it has answered for, in the background, so
    # that no submission waits for the store when its cached answer ages.
    REFRESH_SECONDS = 4.0
    MAX_CACHED = 10_000

    def __init__(self, sessions: async_sessionmaker[Any]) -> None:
        self._sessions = sessions
        self._cache: dict[str, tuple[Identity | None, float]] = {}
        self._refresher: asyncio.Task[None] | None = None
        self._lookups: dict[str, asyncio.Future[Identity | None]] = {}

    def start_refreshing(self) -> None:
        """Keep cached answers fresh from a background task (until ``close``)."""
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_forever(), name="key-cache")

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.REFRESH_SECONDS)
            try:
                await self.refresh()
            except Exception as exc:  # answers age and are then looked up one by one
                log.warning("could not refresh the key cache: %s", exc)

    async def refresh(self) -> None:
        """Re-read every cached key in a few queries: revoked ones stop working, all answers
        count as fresh again."""
        digests = list(self._cache)
        checked = time.monotonic()
        found: dict[str, Identity] = {}
        async with self._sessions() as session:
            for start in range(0, len(digests), 500):
                rows = await session.execute(
                    select(ApiKeyRow.key_hash, ApiKeyRow.sender, ApiKeyRow.role).where(
                        ApiKeyRow.key_hash.in_(digests[start : start + 500]),
                        ApiKeyRow.revoked_at.is_(None),
                    )
                )
                for digest, sender, role in rows:
                    found[digest] = Identity(sender=sender, role=role)
        for digest in digests:
            if digest in self._cache:  # not dropped by a revoke meanwhile
                self._cache[digest] = (found.get(digest), checked)

    async def create(
        self, sender: str, *, role: str = "sender", key: str | None = None
    ) -> tuple[str, str]:
        """Create the sender if new and a key for it; returns (key id, key). The key is
        shown once: it cannot be read back."""
        if role not in ROLES:
            raise ConfigError(f"role {role!r} is unknown; use one of {', '.join(ROLES)}")
        if not sender or len(sender) > 64 or not sender.replace("-", "").replace(".", "").isalnum():
            raise ConfigError(
                f"sender code {sender!r} is not valid; use letters, digits, '-' and '.' "
                "(at most 64 characters)"
            )
        key = key or KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = secrets.token_hex(6)
        now = utc_now()
        async with self._sessions.begin() as session:
            if await session.get(SenderRow, sender) is None:
                session.add(SenderRow(code=sender, created_at=now))
                await session.flush()
            existing = await session.scalar(
                select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_key(key))
            )
            if existing is not None:
                # A given key is created idempotently (the demo's fixed keys), but never
                # handed to a second sender: it would keep identifying the first one.
                if (existing.sender, existing.role) != (sender, role):
                    raise ConfigError(
                        f"this key already belongs to another sender or role (key id "
                        f"{existing.id}); create {sender!r} without giving a key"
                    )
                return existing.id, key
            session.add(
                ApiKeyRow(
                    id=key_id, sender=sender, key_hash=hash_key(key), role=role, created_at=now
                )
            )
        return key_id, key

    async def list(self) -> list[KeyInfo]:
        async with self._sessions() as session:
            rows = await session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at))
            return [KeyInfo(r.id, r.sender, r.role, r.created_at, r.revoked_at) for r in rows]

    async def active(self, key: str) -> KeyInfo | None:
        """The key's record if it exists and is not revoked, read from the store (not the
        cache): for signing in, which needs the key's id and must see a revoke at once."""
        async with self._sessions() as session:
            row = await session.scalar(
                select(ApiKeyRow).where(
                    ApiKeyRow.key_hash == hash_key(key), ApiKeyRow.revoked_at.is_(None)
                )
            )
        if row is None:
            return None
        return KeyInfo(row.id, row.sender, row.role, row.created_at, row.revoked_at)

    async def revoke(self, key_id_or_sender: str) -> int:
        """Revoke one key by id, or every key of a sender; returns how many were revoked."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(ApiKeyRow)
                .where(
                    (ApiKeyRow.id == key_id_or_sender) | (ApiKeyRow.sender == key_id_or_sender),
                    ApiKeyRow.revoked_at.is_(None),
                )
                .values(revoked_at=utc_now())
            )
        self._cache.clear()
        return int(getattr(result, "rowcount", 0) or 0)

    async def delete_keys(self, keys: Iterable[str]) -> int:
        """Delete these keys (given in clear) wherever they exist; returns how many were.

        For well-known keys that must not outlive the mode that made them (the demo's):
        deleted rather than revoked, so the mode can create them again later.
        """
        digests = [hash_key(key) for key in keys]
        async with self._sessions.begin() as session:
            result = await session.execute(delete(ApiKeyRow).where(ApiKeyRow.key_hash.in_(digests)))
        self._cache.clear()
        return int(getattr(result, "rowcount", 0) or 0)

    async def identify(self, key: str) -> Identity | None:
        """Who a key belongs to, or None for an unknown or revoked key."""
        digest = hash_key(key)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[1] < self.CACHE_SECONDS:
            return cached[0]
        # Requests with the same key that miss together (a sender's first burst) share
        # one lookup rather than each queueing one for the store.
        pending = self._lookups.get(digest)
        if pending is None:
            pending = asyncio.ensure_future(self._look_up(digest, now))
            self._lookups[digest] = pending
            pending.add_done_callback(lambda _: self._lookups.pop(digest, None))
        return await asyncio.shield(pending)

    async def _look_up(self, digest: str, now: float) -> Identity | None:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(ApiKeyRow.sender, ApiKeyRow.role).where(
                        ApiKeyRow.key_hash == digest, ApiKeyRow.revoked_at.is_(None)
                    )
                )
            ).first()
        identity = Identity(sender=row[0], role=row[1]) if row else None
        if len(self._cache) > self.MAX_CACHED:  # unknown keys by the thousand: start afresh
            self._cache.clear()
        self._cache[digest] = (identity, now)
        return identity
