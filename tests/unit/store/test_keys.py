"""Sender keys: shown once, kept only as a hash, revocable by id or by sender."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
from sqlalchemy import select

from exchange.errors import ConfigError
from exchange.store import Identity, Store, hash_key
from exchange.store.keys import KEY_PREFIX
from exchange.store.models import ApiKeyRow, SenderRow


async def _key_rows(store: Store) -> list[dict[str, Any]]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(ApiKeyRow.__table__))
        return [dict(row) for row in rows.mappings()]


async def test_create_returns_the_key_once_and_stores_only_its_sha256(store: Store) -> None:
    key_id, key = await store.keys.create("samr-reg")

    assert key.startswith(KEY_PREFIX)
    assert len(key) > 40
    rows = await _key_rows(store)
    assert len(rows) == 1
    row = rows[0]
    assert row["id"] == key_id
    assert row["sender"] == "samr-reg"
    assert row["role"] == "sender"
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest() == hash_key(key)
    assert row["revoked_at"] is None
    # The key itself is in no column: it cannot be read back.
    assert all(key not in str(value) for value in row.values())
    async with store.engine.connect() as conn:
        senders = (await conn.execute(select(SenderRow.code))).scalars().all()
    assert senders == ["samr-reg"]


async def test_create_for_an_existing_sender_adds_a_second_key(store: Store) -> None:
    first_id, first = await store.keys.create("samr-reg")
    second_id, second = await store.keys.create("samr-reg")

    assert first_id != second_id
    assert first != second
    assert len(await _key_rows(store)) == 2
    assert await store.keys.identify(first) == Identity("samr-reg", "sender")
    assert await store.keys.identify(second) == Identity("samr-reg", "sender")


async def test_create_with_a_given_key_is_idempotent(store: Store) -> None:
    key_id, key = await store.keys.create("demo-sender", key="exk_demo-key")
    again = await store.keys.create("demo-sender", key="exk_demo-key")

    assert again == (key_id, key)
    assert len(await _key_rows(store)) == 1


async def test_create_refuses_a_given_key_that_belongs_to_another_sender(store: Store) -> None:
    await store.keys.create("samr-reg", key="exk_shared")

    with pytest.raises(ConfigError, match="another"):
        await store.keys.create("tax-bureau", key="exk_shared")
    assert await store.keys.identify("exk_shared") == Identity("samr-reg", "sender")


@pytest.mark.parametrize("sender", ["", "has space", "semi;colon", "x" * 65])
async def test_create_rejects_bad_sender_codes(store: Store, sender: str) -> None:
    with pytest.raises(ConfigError, match="sender code"):
        await store.keys.create(sender)
    assert await _key_rows(store) == []


async def test_create_rejects_unknown_roles(store: Store) -> None:
    with pytest.raises(ConfigError, match="role 'admin' is unknown"):
        await store.keys.create("samr-reg", role="admin")


async def test_identify_returns_sender_and_role(store: Store) -> None:
    _, sender_key = await store.keys.create("samr-reg")
    _, operator_key = await store.keys.create("ops.team", role="operator")

    sender = await store.keys.identify(sender_key)
    operator = await store.keys.identify(operator_key)

    assert sender == Identity(sender="samr-reg", role="sender")
    assert sender is not None and not sender.is_operator
    assert operator == Identity(sender="ops.team", role="operator")
    assert operator is not None and operator.is_operator
    assert await store.keys.identify(KEY_PREFIX + "not-a-key") is None


async def test_revoke_by_key_id_revokes_only_that_key(store: Store) -> None:
    first_id, first = await store.keys.create("samr-reg")
    _, second = await store.keys.create("samr-reg")
    assert await store.keys.identify(first) is not None  # now cached

    assert await store.keys.revoke(first_id) == 1

    assert await store.keys.identify(first) is None
    assert await store.keys.identify(second) == Identity("samr-reg", "sender")
    assert await store.keys.revoke(first_id) == 0  # already revoked


async def test_revoke_by_sender_revokes_all_its_keys(store: Store) -> None:
    _, first = await store.keys.create("samr-reg")
    _, second = await store.keys.create("samr-reg")
    _, other = await store.keys.create("tax-bureau")

    assert await store.keys.revoke("samr-reg") == 2

    assert await store.keys.identify(first) is None
    assert await store.keys.identify(second) is None
    assert await store.keys.identify(other) == Identity("tax-bureau", "sender")
    assert await store.keys.revoke("nobody") == 0


async def test_a_key_revoked_elsewhere_stops_working_when_the_cache_expires(
    store: Store,
) -> None:
    """Another process revokes: this one keeps its cached answer only for CACHE_SECONDS."""
    key_id, key = await store.keys.create("samr-reg")
    other = Store(store.url)
    try:
        assert await other.keys.identify(key) == Identity("samr-reg", "sender")

        assert await store.keys.revoke(key_id) == 1

        assert await other.keys.identify(key) == Identity("samr-reg", "sender")  # cached
        other.keys.CACHE_SECONDS = 0.0
        assert await other.keys.identify(key) is None
    finally:
        await other.close()


async def test_a_refreshing_cache_learns_of_a_revocation_in_the_background(
    store: Store,
) -> None:
    """A running hub re-reads its cached keys in the background: answers never age into a
    lookup on the hot path, and a key revoked elsewhere stops working after one refresh."""
    key_id, key = await store.keys.create("samr-reg")
    other = Store(store.url)
    other.keys.CACHE_SECONDS = 3600.0  # only the refresher can change the answer
    other.keys.REFRESH_SECONDS = 0.05
    try:
        assert await other.keys.identify(key) == Identity("samr-reg", "sender")
        other.keys.start_refreshing()
        assert await store.keys.revoke(key_id) == 1
        for _ in range(100):
            if await other.keys.identify(key) is None:
                break
            await asyncio.sleep(0.05)
        assert await other.keys.identify(key) is None
    finally:
        await other.close()


async def test_concurrent_first_uses_of_a_key_share_one_lookup(store: Store) -> None:
    _, key = await store.keys.create("samr-reg")
    fresh = Store(store.url)
    opened = 0
    sessions = fresh.keys._sessions

    def counting() -> Any:
        nonlocal opened
        opened += 1
        return sessions()

    fresh.keys._sessions = counting  # type: ignore[assignment]
    try:
        found = await asyncio.gather(*(fresh.keys.identify(key) for _ in range(50)))
        assert found == [Identity("samr-reg", "sender")] * 50
        assert opened == 1
    finally:
        await fresh.close()


async def test_list_shows_every_key_with_its_state_and_never_the_key(store: Store) -> None:
    first_id, first = await store.keys.create("samr-reg")
    second_id, _ = await store.keys.create("ops.team", role="operator")
    await store.keys.revoke(first_id)

    keys = await store.keys.list()

    assert [(k.id, k.sender, k.role) for k in keys] == [
        (first_id, "samr-reg", "sender"),
        (second_id, "ops.team", "operator"),
    ]
    assert keys[0].revoked_at is not None
    assert keys[1].revoked_at is None
    assert keys[0].created_at <= keys[1].created_at
    assert keys[0].revoked_at >= keys[0].created_at
    assert all(first not in repr(k) for k in keys)
