"""Which metrics this process writes, and where: one folder shared by the hub's processes.

``exchange serve`` may run the hub in three processes (exchange/processes.py), and only the
front door answers ``/metrics``.  So every process writes its counts to files of its own in
``DATA_DIR/metrics`` (prometheus-client's multi-process mode: one memory-mapped file per
process and metric kind), and a scrape adds them up.  A worker that is started again writes a
new file beside its old one, so what it counted before is not lost.  The folder is emptied
when ``serve`` starts: counters start from zero with the hub, as Prometheus expects of a
restarted target.

``configure`` must run before the stages are built (they take ``current()`` when made).  A
process that never calls it (a test that builds a hub directly) counts in memory, on a
registry of its own.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prometheus_client import CollectorRegistry, values
from prometheus_client.multiprocess import mark_process_dead

from exchange.errors import ConfigError
from exchange.metrics.instruments import HubMetrics, NoMetrics
from exchange.owner_only import FOLDER_MODE
from exchange.settings import Settings

ENVIRONMENT = "PROMETHEUS_MULTIPROC_DIR"  # the library's name for the folder

_current: HubMetrics | None = None
_folder: Path | None = None


def folder_of(settings: Settings) -> Path:
    return settings.resolved_data_dir / "metrics"


def configure(settings: Settings, *, fresh: bool) -> HubMetrics:
    """Set this process up to write its metrics to the shared folder (``fresh``: empty it
    first, as the serving process does at start), or to nothing if metrics are off."""
    global _current, _folder
    if not settings.metrics:
        _current, _folder = NoMetrics(), None
        return _current
    folder = folder_of(settings)
    try:
        if fresh:
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the metrics folder {folder}: {exc.strerror}; make "
            "EXCHANGE_DATA_DIR writable or set EXCHANGE_METRICS=false"
        ) from exc
    # The library reads the folder from the environment when a value is made, and chose its
    # kind of value when it was imported: set both, so the order of imports does not matter.
    # Worker processes inherit the variable.
    os.environ[ENVIRONMENT] = str(folder)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    _current, _folder = HubMetrics(None), folder
    return _current


def current() -> HubMetrics:
    """This process's metrics (in memory if ``configure`` was not called)."""
    global _current
    if _current is None:
        # in memory even if a parent process left the folder's variable set
        values.ValueClass = values.MutexValue
        _current = HubMetrics(CollectorRegistry(auto_describe=True))
    return _current


def folder() -> Path | None:
    """The shared folder this process writes to; None when it counts in memory or not at all."""
    return _folder


def forget_process(pid: int) -> None:
    """A worker process ended: its gauges (breaker states) no longer count; its counters do."""
    if _folder is not None:
        mark_process_dead(pid, str(_folder))  # type: ignore[no-untyped-call]
