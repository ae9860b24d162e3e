"""Console sessions in the store: only a hash kept, idle expiry, ended by sign-out or a revoke."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from exchange.envelope import utc_now
from exchange.store import SessionOwner, Store
from exchange.store.console_sessions import csrf_token, token_hash
from exchange.store.models import ConsoleSessionRow

IDLE = 8 * 3600.0


async def _rows(store: Store) -> list[dict[str, Any]]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(ConsoleSessionRow.__table__))
        return [dict(row) for row in rows.mappings()]


async def _age(store: Store, seconds: float) -> None:
    """Make every session's last use ``seconds`` ago."""
    async with store.engine.begin() as conn:
        await conn.execute(
            update(ConsoleSessionRow).values(last_seen_at=utc_now() - timedelta(seconds=seconds))
        )


async def test_a_session_names_its_key_and_only_the_tokens_hash_is_kept(store: Store) -> None:
    key_id, _ = await store.keys.create("ops.team", role="operator")
    token = await store.console_sessions.open(key_id)

    owner = await store.console_sessions.find(token, idle_seconds=IDLE)

    assert owner == SessionOwner(sender="ops.team", role="operator", key_id=key_id)
    rows = await _rows(store)
    assert [row["token_hash"] for row in rows] == [token_hash(token)]
    assert all(token not in str(value) for value in rows[0].values())
    assert await store.console_sessions.find("not-a-token", idle_seconds=IDLE) is None
    # The CSRF token is the session's own, and not the cookie's value.
    assert csrf_token(token) != token and len(csrf_token(token)) == 64


async def test_a_viewer_key_opens_a_viewer_session(store: Store) -> None:
    key_id, key = await store.keys.create("audit", role="viewer")
    info = await store.keys.active(key)
    assert info is not None and info.id == key_id and info.role == "viewer"

    token = await store.console_sessions.open(key_id)

    owner = await store.console_sessions.find(token, idle_seconds=IDLE)
    assert owner is not None and owner.role == "viewer"
    identity = await store.keys.identify(key)
    assert identity is not None and identity.reads_any and not identity.is_operator


async def test_an_idle_session_expires_and_a_used_one_does_not(store: Store) -> None:
    key_id, _ = await store.keys.create("ops.team", role="operator")
    token = await store.console_sessions.open(key_id)

    await _age(store, IDLE - 120)
    assert await store.console_sessions.find(token, idle_seconds=IDLE) is not None
    # That use moved its idle clock: another idle limit from now.
    (row,) = await _rows(store)
    assert utc_now() - row["last_seen_at"] < timedelta(seconds=30)

    await _age(store, IDLE + 1)
    assert await store.console_sessions.find(token, idle_seconds=IDLE) is None
    assert await _rows(store) == []  # deleted once found expired


async def test_signing_out_ends_the_session(store: Store) -> None:
    key_id, _ = await store.keys.create("ops.team", role="operator")
    token = await store.console_sessions.open(key_id)
    other = await store.console_sessions.open(key_id)

    await store.console_sessions.end(token)

    assert await store.console_sessions.find(token, idle_seconds=IDLE) is None
    assert await store.console_sessions.find(other, idle_seconds=IDLE) is not None


async def test_revoking_the_key_ends_its_sessions(store: Store) -> None:
    key_id, _ = await store.keys.create("ops.team", role="operator")
    kept_id, _ = await store.keys.create("ops.other", role="operator")
    token = await store.console_sessions.open(key_id)
    kept = await store.console_sessions.open(kept_id)

    assert await store.keys.revoke(key_id) == 1

    assert await store.console_sessions.find(token, idle_seconds=IDLE) is None
    assert await store.console_sessions.find(kept, idle_seconds=IDLE) is not None
    assert await store.keys.active("anything") is None


async def test_sweep_deletes_idle_and_revoked_sessions_only(store: Store) -> None:
    live_id, _ = await store.keys.create("ops.team", role="operator")
    gone_id, _ = await store.keys.create("ops.gone", role="operator")
    await store.console_sessions.open(live_id)
    await store.console_sessions.open(gone_id)
    await store.keys.revoke(gone_id)

    assert await store.console_sessions.sweep(idle_seconds=IDLE) == 1
    assert [row["key_id"] for row in await _rows(store)] == [live_id]

    await _age(store, IDLE + 1)
    assert await store.console_sessions.sweep(idle_seconds=IDLE) == 1
    assert await _rows(store) == []
