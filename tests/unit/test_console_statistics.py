"""The console's statistics: periods in the reader's time zone, counts and median latency per
sender and per receiver from the traffic aggregates, and the CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from exchange.console import statistics
from exchange.console.statistics import BadParameter, Request
from exchange.records.events import Accepted, DeadLettered, Delivered, Event, Failed, Rejected
from exchange.ruleset import RuleSet
from exchange.store import Store
from exchange.store.traffic import TrafficFold, upsert_statement, write

REPO = Path(__file__).resolve().parents[2]
SAMR = "samr.EnterpriseRegistration"
ROUTE = "enterprise-registration-to-tax-and-registry"
SHANGHAI = "Asia/Shanghai"


def ask(**given: str) -> Request:
    values = {"by": "sender", "period": "day", "since": None, "until": None, "tz": "UTC", **given}
    return Request.parse(
        values["by"],  # type: ignore[arg-type]
        values["period"],  # type: ignore[arg-type]
        values["since"],
        values["until"],
        values["tz"],  # type: ignore[arg-type]
        date(2026, 12, 2),
    )


def test_periods_are_days_iso_weeks_or_months_clipped_to_the_range() -> None:
    days = ask(since="2026-11-29", until="2026-12-02").periods()
    assert [a.isoformat() for a, _ in days] == [
        "2026-11-29",
        "2026-11-30",
        "2026-12-01",
        "2026-12-02",
    ]
    weeks = ask(period="week", since="2026-11-29", until="2026-12-09").periods()
    # 2026-11-29 is a Sunday: its ISO week started on Monday the 23rd
    assert [(a.isoformat(), b.isoformat()) for a, b in weeks] == [
        ("2026-11-29", "2026-11-29"),
        ("2026-11-30", "2026-12-06"),
        ("2026-12-07", "2026-12-09"),
    ]
    assert [statistics.period_label(a, "week") for a, _ in weeks] == [
        "2026-W48",
        "2026-W49",
        "2026-W50",
    ]
    months = ask(period="month", since="2026-01-15", until="2026-03-01").periods()
    assert [statistics.period_label(a, "month") for a, _ in months] == [
        "2026-01",
        "2026-02",
        "2026-03",
    ]
    assert months[1] == (date(2026, 2, 1), date(2026, 2, 28))
    # the default: the last seven days up to today
    assert ask().first == date(2026, 11, 26) and ask().last == date(2026, 12, 2)


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"by": "route"}, "by='route': choose one of sender, endpoint"),
        ({"period": "year"}, "period='year': choose one of day, week, month"),
        ({"since": "2026-13-01"}, "since='2026-13-01' is not a date; send YYYY-MM-DD"),
        ({"since": "2026-12-05", "until": "2026-12-01"}, "is after until=2026-12-01; swap them"),
        ({"tz": "Mars/Olympus"}, "tz='Mars/Olympus' is not a time zone"),
        (
            {"since": "2020-01-01"},
            "too many (at most 400); choose a shorter range or a longer period",
        ),
    ],
)
def test_unusable_parameters_are_named(given: dict[str, str], says: str) -> None:
    with pytest.raises(BadParameter, match=says.replace("(", r"\(").replace(")", r"\)")):
        ask(**given)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await store.start()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return RuleSet.load(REPO)


def arrival(kind: type[Accepted] | type[Rejected], n: int, at: datetime) -> Event:
    common = {
        "id": f"m{n}",
        "at": at,
        "sender": "samr-reg",
        "message_id": f"mid-{n}",
        "correlation_id": f"c{n}",
        "message_type": SAMR,
        "schema_version": "1.0",
        "size": 100,
    }
    if kind is Rejected:
        return Rejected(**common, status=422, reason="invalid")  # type: ignore[arg-type]
    return Accepted(**common, via="rest")  # type: ignore[arg-type]


def delivered(n: int, at: datetime, endpoint: str, e2e_ms: float) -> Event:
    return Delivered(
        id=f"m{n}",
        at=at,
        attempt=1,
        status=200,
        elapsed_ms=2.0,
        endpoint=endpoint,
        route=ROUTE,
        adapters=(),
        sender="samr-reg",
        message_type=SAMR,
        e2e_ms=e2e_ms,
    )


async def fold(store: Store, events: list[Event]) -> None:
    traffic = TrafficFold()
    traffic.add(events)
    async with store.engine.begin() as connection:
        await write(connection, traffic.rows(), upsert_statement(store.engine.dialect.name))


# 17:30 UTC on 1 December is 01:30 on 2 December in Shanghai (UTC+8).
LATE = datetime(2026, 12, 1, 17, 30, tzinfo=UTC)
EARLY = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def test_counts_and_median_per_sender_and_receiver_per_local_day(
    store: Store, rules: RuleSet
) -> None:
    events: list[Event] = [arrival(Accepted, n, EARLY) for n in range(4)]
    events += [arrival(Rejected, 9, EARLY)]
    events += [delivered(n, EARLY, "tax-bureau", e2e_ms=100.0) for n in range(3)]
    events += [
        Failed(
            id="m3",
            at=EARLY,
            attempt=1,
            error="503",
            status=503,
            retrying=False,
            endpoint="tax-bureau",
            route=ROUTE,
            adapters=(),
            sender="samr-reg",
            message_type=SAMR,
        ),
        DeadLettered(
            id="m3",
            at=EARLY,
            stage="deliver",
            reason="gave up",
            dead_letter="d3",
            endpoint="tax-bureau",
            attempt=1,
            sender="samr-reg",
            message_type=SAMR,
        ),
    ]
    events += [arrival(Accepted, n, LATE) for n in range(10, 12)]
    events += [delivered(n, LATE, "tax-bureau", e2e_ms=400.0) for n in range(10, 12)]
    await fold(store, events)

    asked = ask(since="2026-12-01", until="2026-12-02", tz=SHANGHAI)
    answer = await statistics.compute(store.engine, rules, asked)
    rows = {(row["period"], row["sender"]): row for row in answer["rows"]}
    first = rows[("2026-12-01", "samr-reg")]
    assert (first["messages"], first["accepted"], first["rejected"]) == (5, 4, 1)
    assert (first["delivered"], first["failed"], first["dead_lettered"]) == (3, 1, 1)
    assert first["failures"] == 3  # the refused one, the failed try, the dead letter
    assert 70 <= first["median_latency_ms"] <= 142  # 100 ms, within a histogram bucket
    second = rows[("2026-12-02", "samr-reg")]  # late on the 1st in UTC, the 2nd in Shanghai
    assert (second["messages"], second["delivered"], second["failures"]) == (2, 2, 0)
    assert 280 <= second["median_latency_ms"] <= 570
    # every sender the routes know has a row, traffic or not
    quiet = rows[("2026-12-01", "legal-entity-registry")]
    assert (quiet["messages"], quiet["median_latency_ms"]) == (0, None)
    assert quiet["name"].startswith("Legal-entity base registry")

    in_utc = await statistics.compute(
        store.engine, rules, ask(since="2026-12-01", until="2026-12-02")
    )
    utc_rows = {(row["period"], row["sender"]): row for row in in_utc["rows"]}
    assert utc_rows[("2026-12-01", "samr-reg")]["messages"] == 7
    assert utc_rows[("2026-12-02", "samr-reg")]["messages"] == 0

    by_receiver = await statistics.compute(
        store.engine,
        rules,
        ask(by="endpoint", period="month", since="2026-12-01", until="2026-12-02", tz=SHANGHAI),
    )
    [tax] = [row for row in by_receiver["rows"] if row["endpoint"] == "tax-bureau"]
    assert tax["period"] == "2026-12"
    assert (tax["messages"], tax["delivered"], tax["failed"], tax["dead_lettered"]) == (6, 5, 1, 1)
    assert tax["failures"] == 2
    assert {row["endpoint"] for row in by_receiver["rows"]} == {
        "tax-bureau",
        "social-security",
        "legal-entity-registry",
    }


async def test_the_csv_opens_in_excel_with_chinese_intact(store: Store, rules: RuleSet) -> None:
    await fold(store, [arrival(Accepted, 1, EARLY), delivered(1, EARLY, "tax-bureau", 50.0)])
    answer = await statistics.compute(
        store.engine, rules, ask(by="endpoint", since="2026-12-01", until="2026-12-01")
    )
    text = statistics.to_csv(answer, "zh")
    assert text.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert table[0][:5] == ["周期", "起始日", "截止日", "接收方", "名称"]
    rows = {row[3]: row for row in table[1:] if row[0] == "2026-12-01"}
    totals = {row[3]: row for row in table[1:] if row[0] == "合计"}
    assert set(totals) == set(rows) == {"tax-bureau", "social-security", "legal-entity-registry"}
    assert totals["tax-bureau"][5] == "1"
    assert rows["tax-bureau"][4] == "Tax bureau taxpayer registration (税务局纳税人登记系统)"
    assert rows["tax-bureau"][5] == "1"  # messages
    assert rows["social-security"][5] == "0"
    english = statistics.to_csv(answer, "en")
    assert english.removeprefix("\ufeff").startswith(
        "Period,First day,Last day,Receiver,Name,Messages"
    )
    assert statistics.csv_filename(answer) == "statistics-endpoint-day-2026-12-01-2026-12-01.csv"
