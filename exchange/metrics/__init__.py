"""Metrics: what the hub counts and times, collected over its processes, served at /metrics.

- ``instruments``: the metric definitions and the calls the stages make (``HubMetrics``);
- ``collection``: which process writes where (``configure`` at start, ``current()``);
- ``scrape``: the ``GET /metrics`` endpoint, with the backlog read at scrape time.
"""

from __future__ import annotations

from exchange.metrics.collection import configure, current, folder, forget_process
from exchange.metrics.instruments import HubMetrics, NoMetrics

__all__ = ["HubMetrics", "NoMetrics", "configure", "current", "folder", "forget_process"]
