"""Console sessions: who signed in to the operator console with which key.

A session is a random token in an HttpOnly cookie; the store keeps only its SHA-256,
so reading the database does not let anyone sign in.  A session lives while it is used:
each use moves its idle clock (at most once a minute, to spare the store a write per
request), and one idle for longer than the idle limit is gone.  It also ends with its key:
a revoked or deleted key's sessions no longer sign anyone in, and are deleted when found.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from exchange.envelope import utc_now
from exchange.store.models import ApiKeyRow, ConsoleSessionRow

# Roles that may open the console; a sender key may not.
CONSOLE_ROLES = ("operator", "viewer")

# How stale a session's last use may be recorded, so that not every request writes.
TOUCH_SECONDS = 60.0


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(token: str) -> str:
    """The session's CSRF token, derived from its secret token so it need not be stored:
    only a holder of the (HttpOnly) cookie's value, or the hub, can compute it."""
    return hashlib.sha256(b"console-csrf\x00" + token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionOwner:
    """The key a session was opened with."""

    sender: str
    role: str
    key_id: str


class ConsoleSessions:
    def __init__(self, sessions: async_sessionmaker[Any]) -> None:
        self._sessions = sessions

    async def open(self, key_id: str) -> str:
        """A new session for this key; returns its token (never stored in clear)."""
        token = secrets.token_urlsafe(32)
        now = utc_now()
        async with self._sessions.begin() as session:
            session.add(
                ConsoleSessionRow(
                    token_hash=token_hash(token), key_id=key_id, created_at=now, last_seen_at=now
                )
            )
        return token

    async def find(self, token: str, *, idle_seconds: float) -> SessionOwner | None:
        """Whose session this is; None for an unknown, idle-expired or revoked-key session
        (which is then deleted)."""
        digest = token_hash(token)
        now = utc_now()
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(
                        ConsoleSessionRow.last_seen_at,
                        ApiKeyRow.id,
                        ApiKeyRow.sender,
                        ApiKeyRow.role,
                        ApiKeyRow.revoked_at,
                    )
                    .outerjoin(ApiKeyRow, ApiKeyRow.id == ConsoleSessionRow.key_id)
                    .where(ConsoleSessionRow.token_hash == digest)
                )
            ).first()
        if row is None:
            return None
        last_seen, key_id, sender, role, revoked_at = row
        idle = (now - last_seen).total_seconds()
        if (
            idle > idle_seconds
            or key_id is None
            or revoked_at is not None
            or role not in CONSOLE_ROLES
        ):
            await self._delete(digest)
            return None
        if idle > TOUCH_SECONDS:
            async with self._sessions.begin() as session:
                await session.execute(
                    update(ConsoleSessionRow)
                    .where(ConsoleSessionRow.token_hash == digest)
                    .values(last_seen_at=now)
                )
        return SessionOwner(sender=sender, role=role, key_id=key_id)

    async def end(self, token: str) -> None:
        """Sign out: the session is deleted, its cookie no longer signs in."""
        await self._delete(token_hash(token))

    async def sweep(self, *, idle_seconds: float) -> int:
        """Delete sessions idle past the limit, or whose key is revoked or gone; returns how
        many were deleted."""
        cutoff = utc_now() - timedelta(seconds=idle_seconds)
        live_keys = select(ApiKeyRow.id).where(ApiKeyRow.revoked_at.is_(None))
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(ConsoleSessionRow).where(
                    (ConsoleSessionRow.last_seen_at < cutoff)
                    | ConsoleSessionRow.key_id.not_in(live_keys)
                )
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def _delete(self, digest: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                delete(ConsoleSessionRow).where(ConsoleSessionRow.token_hash == digest)
            )
