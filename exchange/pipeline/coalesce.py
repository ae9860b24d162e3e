"""Answering many concurrent look-ups with one query.

The idempotency check asks the store about every submitted message id; one
query per message costs more than all the XML work together.  Callers that
arrive while a query runs wait for the next one, so under load each query
answers a whole batch, and a lone caller still gets its answer at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Generic, TypeVar

V = TypeVar("V")


class Coalescer(Generic[V]):
    def __init__(self, fetch_many: Callable[[Collection[str]], Awaitable[Mapping[str, V]]]) -> None:
        self._fetch_many = fetch_many
        self._pending: dict[str, list[asyncio.Future[V | None]]] = {}
        self._running = False

    async def get(self, key: str) -> V | None:
        future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append(future)
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(0)  # let the callers of this loop turn join the first batch
            while self._pending:
                batch, self._pending = self._pending, {}
                try:
                    found = await self._fetch_many(list(batch))
                except Exception as exc:
                    for futures in batch.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(exc)
                    continue
                for key, futures in batch.items():
                    for future in futures:
                        if not future.done():
                            future.set_result(found.get(key))
        finally:
            self._running = False
