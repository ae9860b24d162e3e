"""The JSON log lines (``EXCHANGE_LOG_FORMAT=json``) and the choice of format."""

from __future__ import annotations

import asyncio
import json
import logging
import sys

import pytest

from exchange import logs


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("exchange.test", logging.WARNING, __file__, 1, message, (), None)
    record.__dict__.update(extra)
    return record


def test_a_line_holds_the_fields_and_nothing_spans_lines() -> None:
    line = logs.JsonFormatter().format(_record("two\nlines, 中文"))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "exchange.test"
    assert entry["message"] == "two\nlines, 中文"
    assert isinstance(entry["process"], int)
    assert entry["time"].endswith("Z")
    assert "hub_id" not in entry and "stage" not in entry


def test_stage_and_hub_id_come_from_the_task_context_or_extra() -> None:
    formatter = logs.JsonFormatter()

    async def stage_task(name: str, hub_id: str) -> dict[str, object]:
        logs.stage.set(name)
        logs.hub_id.set(hub_id)
        await asyncio.sleep(0)  # the other task runs meanwhile with its own values
        entry: dict[str, object] = json.loads(formatter.format(_record("m")))
        return entry

    async def both() -> list[dict[str, object]]:
        return list(await asyncio.gather(stage_task("router", "a"), stage_task("delivery", "b")))

    first, second = asyncio.run(both())
    assert (first["stage"], first["hub_id"]) == ("router", "a")
    assert (second["stage"], second["hub_id"]) == ("delivery", "b")
    entry = json.loads(formatter.format(_record("m", hub_id="given")))
    assert entry["hub_id"] == "given"


def test_an_exception_travels_inside_the_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), exc_info=sys.exc_info()
        )
    entry = json.loads(logs.JsonFormatter().format(record))
    assert "ValueError: boom" in entry["exception"]


def test_the_format_is_text_unless_json_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(logs.ENVIRONMENT, raising=False)
    assert logs.chosen_format() == "text"
    monkeypatch.setenv(logs.ENVIRONMENT, "JSON")
    assert logs.chosen_format() == "json"
    monkeypatch.setenv(logs.ENVIRONMENT, "xml")
    with pytest.raises(ValueError, match="EXCHANGE_LOG_FORMAT='xml' is not a log format"):
        logs.chosen_format()
