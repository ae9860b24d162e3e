"""The traffic aggregates: the indexer's fold into time buckets, the queries, retention,
breaker states; on SQLite and PostgreSQL (the ``store`` fixture runs each test on both)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from exchange.records.events import (
    Accepted,
    BreakerChanged,
    Delivered,
    Event,
    Failed,
    Rejected,
    Replayed,
    decode,
    encode,
)
from exchange.store import Store, StoreRetention
from exchange.store.backlog import BacklogSamples, Waiting
from exchange.store.endpoints import EndpointQueries
from exchange.store.latency import bucket_of, percentile, upper_bound_ms
from exchange.store.models import StepRow, traffic_table
from exchange.store.traffic import KEEP_SECONDS, TrafficQueries

from .conftest import MESSAGE_TYPE, ROUTE, Flow

TAX = "tax-bureau"
LER = "legal-entity-registry"
# A fixed moment, at the start of an hour, so that buckets are easy to reason about.
T0 = datetime(2026, 11, 30, 10, 0, 0, tzinfo=UTC)


def _again(event: Event) -> Event:
    return decode(encode(event))


def _accepted(flow: Flow, at: datetime, ingress_ms: float | None = None) -> Event:
    event = Accepted.of(flow.envelope, size=10, via="rest", ingress_ms=ingress_ms)
    event.at = at
    return _again(event)


def _delivered(flow: Flow, endpoint: str, at: datetime, e2e_ms: float) -> Event:
    return _again(
        Delivered(
            id=flow.id,
            at=at,
            attempt=1,
            status=200,
            elapsed_ms=3.0,
            endpoint=endpoint,
            route=ROUTE,
            adapters=(),
            sender=flow.envelope.sender,
            message_type=MESSAGE_TYPE,
            e2e_ms=e2e_ms,
        )
    )


def _failed(flow: Flow, endpoint: str, at: datetime) -> Event:
    return _again(
        Failed(
            id=flow.id,
            at=at,
            attempt=1,
            error="HTTP 503",
            status=503,
            retrying=True,
            endpoint=endpoint,
            route=ROUTE,
            adapters=(),
            sender=flow.envelope.sender,
            message_type=MESSAGE_TYPE,
        )
    )


async def test_counts_land_in_every_grain_and_add_up_across_batches(store: Store) -> None:
    flows = [Flow(f"m-{i}") for i in range(4)]
    first = [_accepted(f, T0 + timedelta(seconds=1)) for f in flows]
    first += [_delivered(flows[0], TAX, T0 + timedelta(seconds=2), 40.0)]
    second = [_delivered(f, TAX, T0 + timedelta(seconds=2), 80.0) for f in flows[1:3]]
    second += [_failed(flows[3], LER, T0 + timedelta(seconds=61))]
    second += [_again(Rejected.of(Flow("bad").envelope, size=5, status=422, reason="no"))]

    await store.index.apply(first, [])
    await store.index.apply(second, [])

    async with store.engine.connect() as connection:
        rows = (await connection.execute(select(traffic_table))).mappings().all()
    by_grain = {g: [r for r in rows if r["grain"] == g] for g in (1, 60, 3600)}
    # One row per (bucket, dimensions): the two batches' deliveries to the tax bureau in
    # second 2 are one row, upserted.
    tax_second = [r for r in by_grain[1] if r["endpoint"] == TAX]
    assert [(r["bucket"], r["delivered"]) for r in tax_second] == [(int(T0.timestamp()) + 2, 3)]
    hour = [r for r in by_grain[3600] if r["endpoint"] == TAX]
    assert len(hour) == 1 and hour[0]["bucket"] == int(T0.timestamp())
    assert hour[0]["sender"] == "samr-reg" and hour[0]["message_type"] == MESSAGE_TYPE

    queries = TrafficQueries(store.engine)
    now = T0 + timedelta(minutes=2)
    totals = await queries.totals(T0, now, by=("endpoint",), now=now)
    figures = {f.group["endpoint"]: f.counts for f in totals.groups}
    assert figures[""]["accepted"] == 4
    assert figures[TAX]["delivered"] == 3
    assert figures[LER]["failed"] == 1
    overall = totals.overall().counts
    assert (overall["accepted"], overall["delivered"], overall["failed"]) == (4, 3, 1)
    # Only the first minute: the failure at 61 s is outside it.
    first_minute = await queries.totals(T0, T0 + timedelta(seconds=60), now=now)
    assert first_minute.grain == 1
    assert first_minute.overall().counts["failed"] == 0
    assert first_minute.overall().counts["delivered"] == 3


async def test_percentiles_come_from_the_histograms(store: Store) -> None:
    events: list[Event] = []
    for i in range(100):
        flow = Flow(f"p-{i}")
        events.append(_delivered(flow, TAX, T0 + timedelta(seconds=i % 7), float(10 * (i + 1))))
    await store.index.apply(events, [])

    now = T0 + timedelta(minutes=1)
    totals = await TrafficQueries(store.engine).totals(T0, now, by=("endpoint",), now=now)
    (tax,) = totals.groups
    latency = tax.latency()["e2e"]
    # The true p50/p95/p99 are 500, 950 and 990 ms; buckets are √2 apart.
    for name, truth in (("p50", 500.0), ("p95", 950.0), ("p99", 990.0)):
        value = latency[name]
        assert value is not None and truth / 2**0.5 <= value <= truth * 2**0.5, (name, value)
    assert tax.latency()["ingress"] == {"p50": None, "p95": None, "p99": None}


async def test_ingress_latency_is_counted_on_the_acceptances(store: Store) -> None:
    events = [_accepted(Flow(f"i-{i}"), T0, ingress_ms=4.0) for i in range(9)]
    events.append(_accepted(Flow("i-slow"), T0, ingress_ms=400.0))
    await store.index.apply(events, [])

    now = T0 + timedelta(minutes=1)
    overall = (await TrafficQueries(store.engine).totals(T0, now, now=now)).overall()
    ingress = overall.latency()["ingress"]
    assert ingress["p50"] is not None and 4 / 2**0.5 <= ingress["p50"] <= 4 * 2**0.5
    assert ingress["p99"] is not None and ingress["p99"] >= 400 / 2**0.5
    assert overall.latency()["e2e"]["p50"] is None  # nothing delivered


def test_latency_buckets_and_estimates() -> None:
    assert bucket_of(0.2) == 0 and bucket_of(1.0) == 0 and bucket_of(1.01) == 1
    assert bucket_of(2.0) == 2  # a bound belongs to the bucket it closes
    assert bucket_of(10 * 60 * 1000) == 39  # ten minutes: still bounded
    assert bucket_of(1e9) == 40
    assert upper_bound_ms(40) == float("inf")
    counts = [0] * 41
    index = bucket_of(100.0)
    counts[index] = 10
    estimate = percentile(counts, 0.5)
    # Inside the bucket that holds 100 ms, within a factor of √2 of it.
    assert upper_bound_ms(index - 1) < 100 <= upper_bound_ms(index)
    assert estimate is not None and upper_bound_ms(index - 1) < estimate <= upper_bound_ms(index)
    assert 100 / 2**0.5 <= estimate <= 100 * 2**0.5
    assert percentile([0] * 41, 0.5) is None


async def test_series_steps_and_groups(store: Store) -> None:
    events: list[Event] = []
    for second in (0, 1, 15, 31, 59):
        flow = Flow(f"s-{second}")
        events.append(_delivered(flow, TAX, T0 + timedelta(seconds=second), 20.0))
    events.append(_delivered(Flow("other"), LER, T0 + timedelta(seconds=1), 20.0))
    await store.index.apply(events, [])

    points = await TrafficQueries(store.engine).series(
        T0, T0 + timedelta(minutes=1), 15, by=("endpoint",)
    )
    shape = [(p.at, {f.group["endpoint"]: f.counts["delivered"] for f in p.groups}) for p in points]
    assert shape == [
        (T0, {TAX: 2, LER: 1}),
        (T0 + timedelta(seconds=15), {TAX: 1}),
        (T0 + timedelta(seconds=30), {TAX: 1}),
        (T0 + timedelta(seconds=45), {TAX: 1}),
    ]
    where = await TrafficQueries(store.engine).series(
        T0, T0 + timedelta(minutes=1), 60, where={"endpoint": LER}
    )
    assert [p.groups[0].counts["delivered"] for p in where] == [1]


async def test_dead_letters_and_replays_are_counted_by_endpoint(store: Store) -> None:
    flow = Flow("d-1")
    event, dead = flow.dead_lettered(TAX)
    replay = Replayed(id=flow.id, dead_letter=dead.id, topic=dead.topic, endpoint=TAX)
    await store.index.apply([event, _again(replay)], [dead])

    now = datetime.now(UTC)
    totals = await TrafficQueries(store.engine).totals(
        now - timedelta(minutes=1), now, by=("sender", "endpoint")
    )
    counts = {(f.group["sender"], f.group["endpoint"]): f.counts for f in totals.groups}
    assert counts[("samr-reg", TAX)]["dead_lettered"] == 1  # the dead letter knows its sender
    assert counts[("", TAX)]["replayed"] == 1


async def test_retention_keeps_each_grain_for_its_own_time(store: Store) -> None:
    old = T0 - timedelta(seconds=KEEP_SECONDS[1] + 3600)
    await store.index.apply([_delivered(Flow("r-1"), TAX, old, 5.0)], [])
    await store.index.apply([_delivered(Flow("r-2"), TAX, T0, 5.0)], [])

    await StoreRetention(store.engine, 90 * 86400 * 1000).sweep(now=T0)

    async with store.engine.connect() as connection:
        rows = (
            await connection.execute(
                select(traffic_table.c.grain, func.count()).group_by(traffic_table.c.grain)
            )
        ).all()
    # The old second is gone; its minute and hour stay (kept 35 and 400 days).
    assert sorted((int(g), int(n)) for g, n in rows) == [(1, 1), (60, 2), (3600, 2)]


async def test_breaker_changes_keep_the_latest_state_and_no_step(store: Store) -> None:
    opened = BreakerChanged.of(TAX, "open", 5, "HTTP 503: down")
    opened.at = T0
    await store.index.apply([_again(BreakerChanged.of(TAX, "closed", 0, None))], [])
    await store.index.apply([_again(opened)], [])

    breakers = await EndpointQueries(store.engine).breakers()
    state = breakers[TAX]
    assert (state.state, state.failures, state.last_error, state.since) == (
        "open",
        5,
        "HTTP 503: down",
        T0,
    )
    async with store.engine.connect() as connection:
        assert (await connection.scalar(select(func.count()).select_from(StepRow))) == 0


async def test_delivery_steps_do_not_repeat_the_traffic_fields(store: Store) -> None:
    flow = Flow("t-1")
    await store.index.apply([flow.accepted(), _delivered(flow, TAX, T0, 12.0)], [])
    async with store.engine.connect() as connection:
        details = (await connection.execute(select(StepRow.step, StepRow.detail))).all()
    delivered = json.loads(next(d for s, d in details if s == "delivered"))
    assert not {"sender", "message_type", "e2e_ms"} & delivered.keys()
    accepted = json.loads(next(d for s, d in details if s == "accepted"))
    assert accepted["sender"] == "samr-reg"  # the acceptance's own fields stay


async def test_oldest_undelivered_per_endpoint(store: Store) -> None:
    early, late = Flow("o-1"), Flow("o-2")
    await store.index.apply(
        [
            _accepted(early, T0),
            early.routed(TAX, LER),
            _accepted(late, T0 + timedelta(minutes=5)),
            late.routed(TAX),
        ],
        [],
    )
    await store.index.apply([_delivered(early, LER, T0 + timedelta(seconds=3), 3000.0)], [])

    oldest = await EndpointQueries(store.engine).oldest_undelivered()
    assert oldest == {TAX: T0}


async def test_backlog_samples_keep_the_largest_per_minute_and_age_out(store: Store) -> None:
    samples = BacklogSamples(store.engine)
    for second, waiting in ((0, 3), (1, 9), (2, 4), (61, 1)):
        await samples.record(T0 + timedelta(seconds=second), {TAX: Waiting(waiting, 1)})
    old = T0 - timedelta(seconds=KEEP_SECONDS[1] + 60)
    await samples.record(old, {TAX: Waiting(50, 0)})

    per_second = await samples.series(T0, T0 + timedelta(minutes=2), 1)
    assert {t - int(T0.timestamp()): w.total for t, w in per_second[TAX].items()} == {
        0: 4,
        1: 10,
        2: 5,
        61: 2,
    }
    per_minute = await samples.series(T0, T0 + timedelta(minutes=2), 60)
    assert [w.deliver for _, w in sorted(per_minute[TAX].items())] == [9, 1]

    await StoreRetention(store.engine, 90 * 86400 * 1000).sweep(now=T0)
    seconds = await samples.series(old - timedelta(minutes=1), T0 + timedelta(minutes=2), 1)
    assert seconds[TAX].keys() == per_second[TAX].keys()  # the old second is gone
    hours = await samples.series(old - timedelta(hours=1), T0 + timedelta(hours=1), 3600)
    assert max(w.deliver for w in hours[TAX].values()) == 50  # its hour stays


async def test_a_long_window_reads_hours_inside_and_minutes_at_its_edges(store: Store) -> None:
    # Deliveries 3 h 10 min, 2 h 59 min, 61 min and 1 min before T0, and 10 s after.
    offsets = (-190 * 60, -179 * 60, -61 * 60, -60, 10)
    events = [
        _delivered(Flow(f"w-{i}"), TAX, T0 + timedelta(seconds=s), 9.0)
        for i, s in enumerate(offsets)
    ]
    await store.index.apply(events, [])
    queries = TrafficQueries(store.engine)
    now = T0 + timedelta(seconds=30)

    # 3 h back from 30 s past T0, at minute precision: all but the first.
    since = now - timedelta(hours=3)
    totals = await queries.totals(since, now, now=now)
    assert totals.grain == 60
    assert totals.overall().counts["delivered"] == 4
    # A day back: every one; the edges at minutes, the inside in hours.
    day = await queries.totals(now - timedelta(days=1), now, now=now)
    assert day.overall().counts["delivered"] == 5
    assert day.overall().latency()["e2e"]["p50"] is not None
    # 2 h back: the two of the last hour and a bit.
    two_hours = await queries.totals(now - timedelta(hours=2), now, now=now)
    assert two_hours.overall().counts["delivered"] == 3
