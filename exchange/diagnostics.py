"""What a running hub can tell an operator about itself without stopping.

``kill -USR1 <pid>`` writes, for every asyncio task of that process, the chain of awaits it is
suspended in (outermost first) to its log: where each stage is waiting, for a stage that
seems stuck.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)


def dump_tasks_on_signal(signum: int = signal.SIGUSR1) -> None:
    """Install the handler on the running loop (call from inside it)."""
    asyncio.get_running_loop().add_signal_handler(signum, log_task_stacks)


def log_task_stacks() -> None:
    tasks = sorted(asyncio.all_tasks(), key=lambda t: t.get_name())
    lines = []
    for task in tasks:
        lines.append(f"--- {task.get_name()}")
        lines.extend(
            f"    {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
            for frame in _awaiting(task.get_coro())
        )
    log.warning("%d asyncio tasks (on SIGUSR1):\n%s", len(tasks), "\n".join(lines))


def _awaiting(awaitable: Any) -> Iterator[FrameType]:
    """The frames of a suspended coroutine and of everything it awaits in turn (Task's own
    stack shows only the outermost one)."""
    for _ in range(50):
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "ag_frame", None)
        if frame is None:
            return
        yield frame
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "ag_await", None)
