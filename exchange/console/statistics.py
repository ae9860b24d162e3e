"""Statistics for the departments' periodic performance assessment (绩效评估).

Per sender or per receiver (endpoint), per day, ISO week or month of a chosen period, in the
reader's time zone: messages, failures and the median (and 95th percentile) latency from
accepted to delivered.  Read from the traffic aggregates' hourly buckets (kept 400 days, see
exchange/store/traffic.py) in one query, then added up per period here; an hour belongs to
the period its start falls in (exact for zones whole hours from UTC, as China's).

- a sender's messages are what it sent (accepted + rejected); its failures are the refused
  ones plus the failed tries and dead letters of its messages' deliveries;
- a receiver's messages are the deliveries that ended (delivered + dead-lettered); its
  failures are the failed tries plus the dead letters.

Every sender of ``senders.yaml`` (every endpoint of the routes) has a row in every period, so
a department that sent nothing shows as 0 rather than missing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.ruleset import RuleSet
from exchange.store.latency import percentile
from exchange.store.traffic import Figures, TrafficQueries

GROUPINGS = ("sender", "endpoint")
PERIODS = ("day", "week", "month")
MAX_PERIODS = 400  # a year and more of days; longer choices group by week or month
HOUR = 3600
TOTAL = "total"  # the period of the rows that add up the whole range


class BadParameter(ValueError):
    """A query parameter that cannot be used; the message names it and says what to send."""


@dataclass(frozen=True)
class Request:
    by: str
    period: str
    first: date  # the first day of the range, inclusive
    last: date  # the last day, inclusive
    zone: ZoneInfo

    @classmethod
    def parse(
        cls, by: str, period: str, since: str | None, until: str | None, tz: str, today: date
    ) -> Request:
        if by not in GROUPINGS:
            raise BadParameter(f"by={by!r}: choose one of {', '.join(GROUPINGS)}")
        if period not in PERIODS:
            raise BadParameter(f"period={period!r}: choose one of {', '.join(PERIODS)}")
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise BadParameter(
                f"tz={tz!r} is not a time zone; send an IANA name such as Asia/Shanghai"
            ) from exc
        last = _day("until", until) if until else today
        first = _day("since", since) if since else last - timedelta(days=6)
        if first > last:
            raise BadParameter(f"since={first} is after until={last}; swap them")
        request = cls(by, period, first, last, zone)
        if len(request.periods()) > MAX_PERIODS:
            raise BadParameter(
                f"{len(request.periods())} {period}s from {first} to {last} are too many "
                f"(at most {MAX_PERIODS}); choose a shorter range or a longer period"
            )
        return request

    def periods(self) -> list[tuple[date, date]]:
        """Each period's first and last day (clipped to the range), in order."""
        found: list[tuple[date, date]] = []
        start = _period_start(self.first, self.period)
        while start <= self.last:
            following = _next_period(start, self.period)
            found.append((max(start, self.first), min(following - timedelta(days=1), self.last)))
            start = following
        return found

    def moment(self, day: date) -> datetime:
        """Midnight at the start of ``day`` in the request's zone."""
        return datetime(day.year, day.month, day.day, tzinfo=self.zone)


def _day(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise BadParameter(f"{name}={text!r} is not a date; send YYYY-MM-DD") from exc


def _period_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    if period == "month":
        return day.replace(day=1)
    return day


def _next_period(start: date, period: str) -> date:
    if period == "week":
        return start + timedelta(days=7)
    if period == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def period_label(start: date, period: str) -> str:
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{start.year}-{start.month:02d}"
    return start.isoformat()


async def compute(engine: AsyncEngine, rules: RuleSet, request: Request) -> dict[str, Any]:
    since, until = request.moment(request.first), request.moment(request.last + timedelta(days=1))
    points = await TrafficQueries(engine).series(since, until, HOUR, by=(request.by,))
    periods = request.periods()
    bounds = [(request.moment(a), request.moment(b + timedelta(days=1))) for a, b in periods]
    # period index -> group -> that period's hours
    hours: list[dict[str, list[Figures]]] = [{} for _ in periods]
    for point in points:
        index = next((i for i, (a, b) in enumerate(bounds) if a <= point.at < b), None)
        if index is None:
            continue
        for figures in point.groups:
            key = figures.group.get(request.by, "")
            if key:  # "" holds what the grouping's dimension does not know (see traffic.py)
                hours[index].setdefault(key, []).append(figures)
    names = _names(rules, request.by)
    keys = sorted(set(names) | {key for period in hours for key in period})
    rows = []
    for (first, last), period_hours in zip(periods, hours, strict=True):
        for key in keys:
            summed = Figures.combine({request.by: key}, period_hours.get(key, ()))
            rows.append(_row(request, first, last, key, names.get(key), summed))
    # The whole range per sender or receiver: what an assessment of the period quotes.
    totals = []
    for key in keys:
        every_hour = [figures for period in hours for figures in period.get(key, ())]
        summed = Figures.combine({request.by: key}, every_hour)
        totals.append(_row(request, request.first, request.last, key, names.get(key), summed))
        totals[-1]["period"] = TOTAL
    return {
        "by": request.by,
        "period": request.period,
        "since": request.first.isoformat(),
        "until": request.last.isoformat(),
        "tz": request.zone.key,
        "columns": list(COLUMNS[request.by]),
        "rows": rows,
        "totals": totals,
    }


def _names(rules: RuleSet, by: str) -> dict[str, str | None]:
    if by == "sender":
        return {code: policy.name for code, policy in rules.routing.senders.items()}
    return {name: endpoint.title for name, endpoint in rules.routing.endpoints.items()}


COLUMNS = {
    "sender": (
        "messages", "accepted", "rejected", "delivered", "failed", "dead_lettered", "failures",
        "median_latency_ms", "p95_latency_ms",
    ),
    "endpoint": (
        "messages", "delivered", "failed", "dead_lettered", "failures",
        "median_latency_ms", "p95_latency_ms",
    ),
}  # fmt: skip


def _row(
    request: Request, first: date, last: date, key: str, name: str | None, figures: Figures
) -> dict[str, Any]:
    counts = figures.counts
    delivery_failures = counts["failed"] + counts["dead_lettered"]
    if request.by == "sender":
        messages = counts["accepted"] + counts["rejected"]
        failures = counts["rejected"] + delivery_failures
    else:
        messages = counts["delivered"] + counts["dead_lettered"]
        failures = delivery_failures
    return {
        "period": period_label(first, request.period),
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        request.by: key,
        "name": name,
        "messages": messages,
        "accepted": counts["accepted"],
        "rejected": counts["rejected"],
        "delivered": counts["delivered"],
        "failed": counts["failed"],
        "dead_lettered": counts["dead_lettered"],
        "failures": failures,
        "median_latency_ms": percentile(figures.e2e, 0.5),
        "p95_latency_ms": percentile(figures.e2e, 0.95),
    }


# -- CSV -------------------------------------------------------------------------------------

HEADINGS = {
    "en": {
        "period": "Period", "first_day": "First day", "last_day": "Last day",
        "sender": "Sender", "endpoint": "Receiver", "name": "Name",
        "messages": "Messages", "accepted": "Accepted", "rejected": "Rejected",
        "delivered": "Delivered", "failed": "Failed tries", "dead_lettered": "Dead-lettered",
        "failures": "Failures", "median_latency_ms": "Median latency (ms)",
        "p95_latency_ms": "95th percentile latency (ms)", TOTAL: "Total",
    },
    "zh": {
        "period": "周期", "first_day": "起始日", "last_day": "截止日",
        "sender": "发送方", "endpoint": "接收方", "name": "名称",
        "messages": "消息数", "accepted": "已接收", "rejected": "已拒绝",
        "delivered": "已投递", "failed": "失败尝试", "dead_lettered": "死信",
        "failures": "失败数", "median_latency_ms": "中位延迟（毫秒）",
        "p95_latency_ms": "95分位延迟（毫秒）", TOTAL: "合计",
    },
}  # fmt: skip
BOM = "\ufeff"  # Excel reads a CSV as UTF-8 (Chinese names intact) only after this mark


def to_csv(answer: dict[str, Any], lang: str) -> str:
    headings = HEADINGS.get(lang, HEADINGS["en"])
    fields = ["period", "first_day", "last_day", answer["by"], "name", *answer["columns"]]
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([headings[field] for field in fields])
    for row in answer["rows"]:
        writer.writerow(_cells(row[field] for field in fields))
    for row in answer["totals"]:
        writer.writerow(_cells([headings[TOTAL], *(row[field] for field in fields[1:])]))
    return out.getvalue()


def _cells(values: Iterable[Any]) -> list[str]:
    return ["" if value is None else str(value) for value in values]


def csv_filename(answer: dict[str, Any]) -> str:
    return f"statistics-{answer['by']}-{answer['period']}-{answer['since']}-{answer['until']}.csv"


def today_in(tz: str) -> date:
    try:
        return datetime.now(ZoneInfo(tz)).date()
    except (ZoneInfoNotFoundError, ValueError):
        return datetime.now(UTC).date()
