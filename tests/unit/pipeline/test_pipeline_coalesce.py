from __future__ import annotations

import asyncio
from collections.abc import Collection

import pytest

from exchange.pipeline.coalesce import Coalescer


async def test_concurrent_lookups_share_queries() -> None:
    queries: list[list[str]] = []

    async def fetch_many(keys: Collection[str]) -> dict[str, int]:
        queries.append(sorted(keys))
        await asyncio.sleep(0.01)
        return {k: int(k) for k in keys if k != "404"}

    lookups = Coalescer(fetch_many)
    results = await asyncio.gather(*(lookups.get(str(n)) for n in range(100)), lookups.get("404"))
    assert results == [*range(100), None]
    assert len(queries) == 1 and len(queries[0]) == 101
    assert await lookups.get("7") == 7  # a lone caller is answered too
    assert len(queries) == 2


async def test_a_failed_query_fails_its_callers_only() -> None:
    calls = 0

    async def fetch_many(keys: Collection[str]) -> dict[str, int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("database is down")
        return {k: 1 for k in keys}

    lookups = Coalescer(fetch_many)
    with pytest.raises(OSError):
        await lookups.get("a")
    assert await lookups.get("b") == 1
