"""aiokafka's logs: repeated connection errors are thinned out, never dropped without a count;
what a healthy cluster retries while a new topic or group settles is information, unless it
goes on."""

from __future__ import annotations

import logging

import pytest
from aiokafka import errors

from exchange.backbone.kafka_logging import RepeatFilter, SettlingFilter, quiet_client_logs


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


def _error_record(msg: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("aiokafka.consumer.fetcher", level, __file__, 1, msg, args, None)


def _clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    clock = [100.0]
    monkeypatch.setattr("exchange.backbone.kafka_logging.time.monotonic", lambda: clock[0])
    return clock


def test_a_retried_answer_of_a_settling_cluster_is_information_not_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _clock(monkeypatch)
    settling = SettlingFilter(grace=15.0)
    not_led = _error_record(
        "Failed fetch offsets from %s: %s", 0, errors.NotLeaderForPartitionError("t[0]")
    )
    no_coordinator = _error_record(
        "Group Coordinator Request failed: %s", errors.GroupCoordinatorNotAvailableError()
    )
    # The producer names the error by its class, at WARNING.
    produce = _error_record(
        "Got error produce response on topic-partition %s, retrying. Error: %s",
        "t[0]",
        errors.NotLeaderForPartitionError,
        level=logging.WARNING,
    )
    forgot = _error_record(
        "Marking the coordinator dead (node %s)for group %s.", 0, "g", level=logging.WARNING
    )
    for record in (not_led, no_coordinator, produce, forgot):
        assert settling.filter(record)
        assert (record.levelno, record.levelname) == (logging.INFO, "INFO"), record.msg
        assert record.getMessage().endswith("while a new topic or group settles)")


def test_a_settling_answer_that_goes_on_past_the_grace_is_an_error_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = _clock(monkeypatch)
    settling = SettlingFilter(grace=15.0)

    def failed() -> logging.LogRecord:
        record = _error_record(
            "Group Coordinator Request failed: %s", errors.GroupCoordinatorNotAvailableError()
        )
        assert settling.filter(record)
        return record

    for _ in range(150):  # retried every 100 ms for 15 s
        assert failed().levelno == logging.INFO
        clock[0] += 0.1
    clock[0] += 0.1
    still = failed()
    assert (still.levelno, still.msg) == (logging.ERROR, "Group Coordinator Request failed: %s")
    clock[0] += 16.0  # quiet for longer than the grace: the next one starts a new run
    assert failed().levelno == logging.INFO


def test_an_unreachable_broker_is_still_an_error() -> None:
    settling = SettlingFilter()
    for record in (
        _error_record("Unable connect to node with id %s: %s", 0, OSError(111, "refused")),
        _error_record(
            "Group Coordinator Request failed: %s", errors.KafkaConnectionError("closed")
        ),
        _error_record("Unable to update metadata from %s", [0]),
        _error_record("Heartbeat session expired - marking coordinator dead"),
    ):
        assert settling.filter(record)
        assert record.levelno == logging.ERROR, record.msg


def test_what_settling_lowers_is_not_held_back_as_a_repeat(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("aiokafka.consumer.fetcher")
    before = list(logger.filters)
    try:
        quiet_client_logs()
        quiet_client_logs()  # installing twice adds nothing
        kinds = [type(f) for f in logger.filters]
        assert kinds[:2] == [SettlingFilter, RepeatFilter]
        assert (kinds.count(SettlingFilter), kinds.count(RepeatFilter)) == (1, 1)
        with caplog.at_level(logging.INFO, logger="aiokafka"):
            for partition in range(3):
                logger.error(
                    "Failed fetch offsets from %s: %s",
                    0,
                    errors.NotLeaderForPartitionError(f"t[{partition}]"),
                )
        assert [r.levelname for r in caplog.records] == ["INFO"] * 3
    finally:
        logger.filters[:] = before
