"""An open-loop load: requests issued at planned times, whatever the answers do.

A closed loop (each connection sends its next request when the previous answer arrives)
lets a slow server slow the load down: the requests that would have waited are never sent,
and the latencies miss exactly the bad moments ("coordinated omission"). Here message i is
planned at ``start + i / rate`` and started at that time even if no answer has come back;
its latency is measured from the planned time, so a stall of the server, of the network or
of this very load generator shows up in every request it delayed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any


def plan(count: int, rate: float) -> list[float]:
    """Offsets in seconds from the start at which the ``count`` messages are due."""
    if rate <= 0:
        raise ValueError(f"rate {rate} per second: give a rate above 0")
    if count < 0:
        raise ValueError(f"count {count}: give 0 or more messages")
    return [i / rate for i in range(count)]


@dataclass
class Schedule:
    """When each message was due and when it was actually started (perf_counter seconds)."""

    planned: list[float]
    issued: list[float] = field(default_factory=list)

    def lags(self) -> list[float]:
        """How late each start was against its plan: the load generator's own delay."""
        return [issued - due for due, issued in zip(self.planned, self.issued, strict=True)]


async def run_open_loop(
    offsets: Sequence[float],
    send: Callable[[int, float], Coroutine[Any, Any, None]],
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> Schedule:
    """Start ``send(i, due)`` for every message at its due time; wait for all to finish.

    ``due`` is the absolute ``clock()`` time message i was planned for: ``send`` measures
    its latency from it. Messages that fell due while the loop was busy are all started as
    soon as it is free, never skipped and never re-planned.
    """
    start = clock()
    schedule = Schedule(planned=[start + offset for offset in offsets])
    tasks: list[asyncio.Task[None]] = []
    for i, due in enumerate(schedule.planned):
        wait = due - clock()
        if wait > 0:
            await asyncio.sleep(wait)
        schedule.issued.append(clock())
        tasks.append(asyncio.create_task(send(i, due)))
    if tasks:
        await asyncio.gather(*tasks)
    return schedule
