"""aiokafka's repeated connection errors are thinned out, never dropped without a count."""

from __future__ import annotations

import logging

import pytest

from exchange.backbone.kafka_logging import RepeatFilter


def _record(msg: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("aiokafka", level, __file__, 1, msg, (), None)


def test_a_repeated_error_passes_once_per_window_then_counts_what_it_held(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    monkeypatch.setattr("exchange.backbone.kafka_logging.time.monotonic", lambda: clock[0])
    repeats = RepeatFilter(window=5.0)
    assert repeats.filter(_record("Unable connect to node %s"))
    assert not any(repeats.filter(_record("Unable connect to node %s")) for _ in range(50))
    assert repeats.filter(_record("Failed fetch messages"))  # another message is not held
    clock[0] += 5.1
    again = _record("Unable connect to node %s")
    assert repeats.filter(again)
    assert str(again.msg).endswith("(and 50 more like it in the last 5 s)")


def test_information_is_never_held() -> None:
    repeats = RepeatFilter()
    assert all(repeats.filter(_record("Joined group", logging.INFO)) for _ in range(5))
