"""The hub's log lines: readable text by default, one JSON object per line on request.

``EXCHANGE_LOG_FORMAT=json`` gives every process (front door and workers) lines such as::

    {"time": "2026-12-02T06:40:01.123Z", "level": "WARNING", "logger": "exchange.pipeline...",
     "message": "...", "process": 4242, "stage": "delivery", "hub_id": "5f0c..."}

``stage`` and ``hub_id`` are there when the line was written on behalf of a stage or of one
message: the stages set them in context variables (each asyncio task has its own copy), or a
call passes them as ``extra={"hub_id": ...}``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

FORMATS = ("text", "json")
ENVIRONMENT = "EXCHANGE_LOG_FORMAT"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

stage: ContextVar[str | None] = ContextVar("stage", default=None)
hub_id: ContextVar[str | None] = ContextVar("hub_id", default=None)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in messages are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, object] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for name, variable in (("stage", stage), ("hub_id", hub_id)):
            value = record.__dict__.get(name) or variable.get()
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def chosen_format() -> str:
    """The format the environment asks for; a value that is neither is refused by name."""
    value = os.environ.get(ENVIRONMENT, "text").strip().lower() or "text"
    if value not in FORMATS:
        raise ValueError(
            f"{ENVIRONMENT}={value!r} is not a log format; use 'text' (the default) or 'json'"
        )
    return value


class _HubHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``configure`` installs (and replaces when called again)."""


def configure(level: int, log_format: str) -> None:
    """Send every logger's records to stderr in ``log_format``.  Like ``basicConfig``, it
    leaves a root logger alone that someone else gave handlers (a test's log capture)."""
    root = logging.getLogger()
    if any(not isinstance(handler, _HubHandler) for handler in root.handlers):
        return
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = _HubHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request at INFO: the commands that talk to a hub print its answer
    # themselves, and the hub's own requests are in its traces.
    logging.getLogger("httpx").setLevel(level if level <= logging.DEBUG else logging.WARNING)
    if log_format == "json":
        logging.captureWarnings(True)  # every line on stderr parses, warnings too
