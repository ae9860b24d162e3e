"""Keeping a stage running: one that fails starts afresh after a pause, logged, until stop.

The hub runs each of its stages this way, and delivery each endpoint, so that a failure
(a broker restart, a bug) costs a second of that stage and no more, and never ends a stage
without a word.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

RESTART_SECONDS = 1.0


async def run_until_stopped(
    name: str, run: Callable[[asyncio.Event], Awaitable[None]], stop: asyncio.Event
) -> None:
    """Await ``run(stop)`` again and again until ``stop`` is set; ``name`` is for the log."""
    while not stop.is_set():
        try:
            await run(stop)
            continue
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if stop.is_set() or task is None or task.cancelling():
                raise  # a real cancellation: the hub is stopping
            # A library cancelled something the stage awaited, not the stage itself.
            log.exception("%s: a call was cancelled under it; restarting", name)
        except Exception:
            log.exception("%s failed; restarting in %s s", name, RESTART_SECONDS)
        await asyncio.sleep(RESTART_SECONDS)
