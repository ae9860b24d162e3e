"""Keeping aiokafka's logs readable: what it retries while something new settles is not an
error, and repeated connection errors while the brokers are away do not bury everything else.

- ``SettlingFilter``: a healthy cluster answers some requests with a retriable error for a
  moment: a topic just created whose partitions are not led yet, the coordinators' topic being
  created on a fresh cluster, a group coordinator loading or moving.  aiokafka logs each of
  these at ERROR or WARNING and retries.  While such an answer has kept coming for at most
  ``grace`` seconds it is logged at INFO; if it goes on longer, it is an error again (and
  logged as such), so a cluster that never settles is still reported.
- ``RepeatFilter``: while a broker is down aiokafka logs every failed connection and metadata
  update at ERROR, thousands of lines a second across the hub's clients.  The same message (by
  its template) is let through once per ``window`` seconds per logger; the next one that
  passes says how many were held back.

Connection errors (an unreachable broker) are never lowered, only thinned.
"""

from __future__ import annotations

import logging
import math
import time

from aiokafka import errors

# The loggers aiokafka reports connection and coordination trouble on.
NOISY = (
    "aiokafka",
    "aiokafka.conn",
    "aiokafka.client",
    "aiokafka.consumer.fetcher",
    "aiokafka.consumer.group_coordinator",
    "aiokafka.producer.sender",
)

# Answers a healthy cluster gives while a new topic, group or coordinator settles.
SETTLING_ERRORS: tuple[type[errors.KafkaError], ...] = (
    errors.NotLeaderForPartitionError,
    errors.LeaderNotAvailableError,
    errors.UnknownTopicOrPartitionError,
    errors.GroupCoordinatorNotAvailableError,
    errors.NotCoordinatorForGroupError,
    errors.GroupLoadInProgressError,
)
# Said after such an answer, naming no error: the client looks the coordinator up again at
# once.  Every other cause of it (a lost connection, an expired session) is logged on its own.
SETTLING_MESSAGES = ("Marking the coordinator dead",)

SETTLE_SECONDS = 15.0
SETTLING_NOTE = " (retried; usual for a moment while a new topic or group settles)"


def _settling_key(record: logging.LogRecord) -> str | None:
    """What ``record`` is a repeat of, if it reports a settling answer; else None."""
    template = str(record.msg)
    if template.startswith(SETTLING_MESSAGES):
        return template
    args = record.args if isinstance(record.args, tuple) else ()
    for arg in args:
        # aiokafka passes the error as an instance or, in the producer, as its class.
        kind = arg if isinstance(arg, type) else type(arg)
        if issubclass(kind, SETTLING_ERRORS):
            return f"{template}\0{kind.__name__}"
    return None


class SettlingFilter(logging.Filter):
    def __init__(self, grace: float = SETTLE_SECONDS) -> None:
        super().__init__()
        self._grace = grace
        self._since: dict[str, float] = {}  # when the current run of each answer began
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = _settling_key(record)
        if key is None:
            return True
        now = time.monotonic()
        if now - self._last.get(key, -math.inf) > self._grace:
            self._since[key] = now  # quiet for a while: a new run begins
        self._last[key] = now
        if now - self._since[key] <= self._grace:
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            record.msg = f"{record.msg}{SETTLING_NOTE}"
        return True


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


def quiet_client_logs(window: float = 5.0) -> None:
    """Install both filters on aiokafka's loggers (once per process).  Settling runs first, so
    that what it lowers to INFO is never held back or counted as a repeated error."""
    for name in NOISY:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SettlingFilter) for f in logger.filters):
            logger.filters.insert(0, SettlingFilter())
        if not any(isinstance(f, RepeatFilter) for f in logger.filters):
            logger.addFilter(RepeatFilter(window))
