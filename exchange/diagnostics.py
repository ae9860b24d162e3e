"""What a running hub can tell an operator about itself without stopping.

``kill -USR1 <pid>`` writes the stack of every asyncio task of that process to its log: where
each stage is waiting, for a stage that seems stuck.
"""

from __future__ import annotations

import asyncio
import io
import logging
import signal

log = logging.getLogger(__name__)


def dump_tasks_on_signal(signum: int = signal.SIGUSR1) -> None:
    """Install the handler on the running loop (call from inside it)."""
    asyncio.get_running_loop().add_signal_handler(signum, log_task_stacks)


def log_task_stacks() -> None:
    out = io.StringIO()
    tasks = asyncio.all_tasks()
    for task in sorted(tasks, key=lambda t: t.get_name()):
        out.write(f"--- {task.get_name()}\n")
        task.print_stack(limit=12, file=out)
    log.warning("%d asyncio tasks (on SIGUSR1):\n%s", len(tasks), out.getvalue())
