"""How ``exchange serve`` spreads the hub over processes, and keeps its worker processes running.

One Python process runs one event loop at a time, so a hub in one process uses one core
whatever the machine has.  ``serve`` therefore runs the front door in its own process and the
stages behind it (router, delivery, indexer) in child ``exchange worker`` processes, as many as
the layout says, each on its own core when the machine has them.  The processes share nothing
but the backbone and the store, as separate machines would.

A worker process that exits while the hub is serving is started again after a pause (and the
exit is logged as an error), so a crashed stage costs seconds, never silently the rest of the
hub's life.  A worker process also stops by itself when the serving process is gone.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from exchange import metrics
from exchange.hub import WORKERS

log = logging.getLogger(__name__)

# Set for a worker process that ``serve`` started: the parent's pid.
STOP_WITH_PARENT = "EXCHANGE_STOP_WITH_PARENT"
RESTART_SECONDS = 1.0
STOP_SECONDS = 20.0  # a worker process that has not stopped by then is killed

# Processes in all -> the stages of each worker process; the serving process (the front
# door) runs the stages no worker process runs.  The router does the most work per message
# (XSD, XSLT), delivery and indexer less each.
LAYOUTS: dict[int, tuple[tuple[str, ...], ...]] = {
    1: (),
    2: (WORKERS,),
    3: (("router",), ("delivery", "indexer")),
}
MAX_PROCESSES = max(LAYOUTS)


def usable_cores() -> int:
    """The cores this process may run on (its affinity: ``taskset`` and cgroups narrow it)."""
    return len(os.sched_getaffinity(0))


def serving_stages(processes: int) -> tuple[str, ...]:
    """The stages the serving process runs itself in the layout of ``processes``."""
    elsewhere = {stage for stages in LAYOUTS[processes] for stage in stages}
    return tuple(stage for stage in WORKERS if stage not in elsewhere)


def default_processes() -> int:
    """One process on one core; otherwise all three layouts' processes.

    Measured on 2 cores (``bench.e2e --processes N``, the bench's load on the same cores):
    1 process 443 msg/s, 2 processes 520, 3 processes 919 at 1.9 ms of CPU per message
    against 2.6: with router, delivery and indexer in one worker process, that process's
    event loop was the bottleneck; split in two, no process is.
    """
    return 1 if usable_cores() == 1 else MAX_PROCESSES


class WorkerProcess:
    """One ``exchange worker STAGE...`` child, started again whenever it exits unasked."""

    def __init__(self, stages: Sequence[str]) -> None:
        self.stages = tuple(stages)
        self.name = "+".join(self.stages)
        self.process: asyncio.subprocess.Process | None = None
        # What the console's health page shows: restarts after unasked exits, and since when
        # the current child runs (wall-clock seconds).
        self.restarts = 0
        self.started_at: float | None = None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def alive(self) -> bool:
        """The child is running now (started and not yet exited)."""
        return self.process is not None and self.process.returncode is None

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the child running until ``stop`` is set; then stop it."""
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                self.process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "exchange",
                    "worker",
                    *self.stages,
                    env={**os.environ, STOP_WITH_PARENT: str(os.getpid())},
                )
                self.started_at = time.time()
                exited = asyncio.ensure_future(self.process.wait())
                await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if stopping.done():
                    await self._stop()
                    metrics.forget_process(self.process.pid)
                    return
                metrics.forget_process(self.process.pid)  # its breaker gauges; counts stay
                log.error(
                    "worker process %s (pid %s) exited with status %s; starting it again in %s s",
                    self.name,
                    self.process.pid,
                    self.process.returncode,
                    RESTART_SECONDS,
                )
                try:
                    await asyncio.wait_for(stop.wait(), timeout=RESTART_SECONDS)
                    return
                except TimeoutError:
                    self.restarts += 1
                    continue
        finally:
            stopping.cancel()

    async def _stop(self) -> None:
        child = self.process
        if child is None or child.returncode is not None:
            return
        child.terminate()
        try:
            await asyncio.wait_for(child.wait(), timeout=STOP_SECONDS)
        except TimeoutError:
            log.warning(
                "worker process %s did not stop within %s s; killing it", self.name, STOP_SECONDS
            )
            child.kill()
            await child.wait()


@dataclass(frozen=True)
class ServingLayout:
    """Where the serving process's stages run: ``local`` ones as tasks of its own hub, the
    others in the ``workers`` it supervises (what the console's health page reports)."""

    local: tuple[str, ...]
    workers: tuple[WorkerProcess, ...]

    @classmethod
    def of(cls, processes: int, workers: Sequence[WorkerProcess]) -> ServingLayout:
        return cls(serving_stages(processes), tuple(workers))


async def stop_when_orphaned(parent: int, stop: asyncio.Event) -> None:
    """In a worker process: set ``stop`` once the serving process ``parent`` is gone.

    A parent killed with SIGKILL cannot stop its children; they notice within half a second
    and stop cleanly, so a restarted hub does not find the old stages still holding its topics.
    """
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
    log.warning("the serving process %s is gone; stopping the workers", parent)
    stop.set()
