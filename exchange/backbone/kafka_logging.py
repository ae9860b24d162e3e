"""Keeping aiokafka's logs readable while the brokers are away.

While a broker is down aiokafka logs every failed connection and metadata update at ERROR,
thousands of lines a second across the hub's clients, burying everything else.  The same
message (by its template) is let through once per ``window`` seconds per logger; the next
one that passes says how many were held back.
"""

from __future__ import annotations

import logging
import time

# The loggers aiokafka reports connection trouble on.
NOISY = (
    "aiokafka",
    "aiokafka.conn",
    "aiokafka.client",
    "aiokafka.consumer.fetcher",
    "aiokafka.consumer.group_coordinator",
    "aiokafka.producer.sender",
)


class RepeatFilter(logging.Filter):
    def __init__(self, window: float = 5.0) -> None:
        super().__init__()
        self._window = window
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = str(record.msg)
        now = time.monotonic()
        if now - self._last.get(key, -self._window) < self._window:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} (and {held} more like it in the last {self._window:g} s)"
        return True


def quiet_repeats(window: float = 5.0) -> None:
    """Install the filter on aiokafka's loggers (once per process)."""
    for name in NOISY:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RepeatFilter) for f in logger.filters):
            logger.addFilter(RepeatFilter(window))
