"""The read side: one message's path, its summary, dead letters, replays, counts."""

from __future__ import annotations

from datetime import UTC, datetime

from exchange.store import Store

from .conftest import MESSAGE_TYPE, ROUTE, Flow

TAX = "tax-bureau"
LER = "legal-entity-registry"


def _utc(value: str | None) -> datetime:
    """An ISO timestamp from the API, which must say it is UTC on every backend."""
    assert value is not None
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() is not None, f"{value} has no time zone"
    return parsed.astimezone(UTC)


async def test_message_returns_none_for_an_unknown_id(store: Store) -> None:
    assert await store.queries.message("no-such-id") is None
    assert await store.queries.message_summaries(["no-such-id"]) == {}


async def test_message_returns_its_status_trace_and_deliveries(store: Store) -> None:
    flow = Flow("order-1")
    accepted = flow.accepted(size=512)
    path = [
        accepted,
        flow.routed(TAX, LER),
        flow.failed(TAX, 1, retrying=True, status=503),
        flow.delivered(LER, status=201),
    ]
    await store.index.apply(path[:2], [])
    await store.index.apply(path[2:], [])

    message = await store.queries.message(flow.id)

    assert message is not None
    assert set(message) == {
        "id",
        "status",
        "sender",
        "message_id",
        "correlation_id",
        "message_type",
        "schema_version",
        "size_bytes",
        "received_at",
        "updated_at",
        "last_error",
        "trace",
        "deliveries",
    }
    assert message["id"] == flow.id
    assert message["status"] == "failed"
    assert message["sender"] == "samr-reg"
    assert message["message_id"] == "order-1"
    assert message["correlation_id"] == flow.envelope.correlation_id
    assert message["message_type"] == MESSAGE_TYPE
    assert message["schema_version"] == "1.0"
    assert message["size_bytes"] == 512
    assert message["last_error"] == "HTTP 503: try later"
    assert _utc(message["received_at"]) == accepted.at
    assert _utc(message["updated_at"]) >= _utc(message["received_at"])

    trace = message["trace"]
    assert [(t["step"], t["endpoint"]) for t in trace] == [
        ("accepted", None),
        ("routed", None),
        ("failed", TAX),
        ("delivered", LER),
    ]
    assert [_utc(t["at"]) for t in trace] == [e.at for e in path]
    assert trace[0]["via"] == "rest"
    assert trace[1]["destinations"][0]["endpoint"] == TAX
    assert trace[2]["attempt"] == 1
    assert trace[2]["retrying"] is True
    assert trace[3]["elapsed_ms"] == 12.5

    assert message["deliveries"] == [
        {
            "endpoint": LER,  # ordered by endpoint
            "route": ROUTE,
            "adapters": ["samr-to-canonical"],
            "status": "delivered",
            "attempts": 1,
            "last_error": None,
            "http_status": 201,
            "updated_at": message["deliveries"][0]["updated_at"],
        },
        {
            "endpoint": TAX,
            "route": ROUTE,
            "adapters": [],
            "status": "retrying",
            "attempts": 1,
            "last_error": "HTTP 503: try later",
            "http_status": 503,
            "updated_at": message["deliveries"][1]["updated_at"],
        },
    ]
    assert _utc(message["deliveries"][0]["updated_at"]) == path[3].at


async def test_message_of_another_message_is_not_mixed_in(store: Store) -> None:
    one, two = Flow("one"), Flow("two")
    await store.index.apply([one.accepted(), two.accepted(), two.routed(TAX)], [])

    message = await store.queries.message(one.id)

    assert message is not None
    assert [t["step"] for t in message["trace"]] == ["accepted"]
    assert message["deliveries"] == []


async def test_message_summary_answers_the_idempotency_check(store: Store) -> None:
    flow = Flow("order-2")
    await store.index.apply([flow.rejected("line 2: bad date")], [])

    other = Flow("order-3")
    await store.index.apply([other.accepted(size=10)], [])

    found = await store.queries.message_summaries([flow.id, other.id, "unknown"])
    assert found == {
        flow.id: {
            "status": "rejected",
            "message_id": "order-2",
            "correlation_id": flow.envelope.correlation_id,
        },
        other.id: {
            "status": "accepted",
            "message_id": "order-3",
            "correlation_id": other.envelope.correlation_id,
        },
    }


async def test_dead_letters_lists_the_newest_first_without_replayed_ones(store: Store) -> None:
    first, second, third = Flow("a"), Flow("b"), Flow("c")
    applied = []
    for flow, endpoint in ((first, TAX), (second, None), (third, LER)):
        event, dead = flow.dead_lettered(endpoint, reason=f"gave up on {flow.envelope.message_id}")
        await store.index.apply([flow.accepted(), event], [dead])
        applied.append(dead)

    listed = await store.queries.dead_letters()

    assert [d["id"] for d in listed] == [applied[2].id, applied[1].id, applied[0].id]
    newest = listed[0]
    assert newest == {
        "id": applied[2].id,
        "message": third.id,
        "stage": "deliver",
        "endpoint": LER,
        "reason": "gave up on c",
        "created_at": newest["created_at"],
        "replayed_at": None,
        "replay_count": 0,
    }
    assert _utc(newest["created_at"]) == applied[2].created_at
    assert listed[1]["stage"] == "route"
    assert listed[1]["endpoint"] is None

    await store.queries.mark_replayed(applied[2].id)

    assert [d["id"] for d in await store.queries.dead_letters()] == [
        applied[1].id,
        applied[0].id,
    ]
    everything = await store.queries.dead_letters(include_replayed=True)
    assert [d["id"] for d in everything] == [d.id for d in reversed(applied)]
    assert [d["id"] for d in await store.queries.dead_letters(limit=1)] == [applied[1].id]


async def test_dead_letter_reads_back_what_was_stored(store: Store) -> None:
    flow = Flow()
    event, dead = flow.dead_lettered(TAX)
    await store.index.apply([flow.accepted(), event], [dead])

    assert await store.queries.dead_letter(dead.id) == dead
    assert await store.queries.dead_letter("no-such-dead-letter") is None


async def test_mark_replayed_counts_every_replay(store: Store) -> None:
    flow = Flow()
    event, dead = flow.dead_lettered(TAX)
    _, other = Flow("other").dead_lettered(TAX)
    await store.index.apply([flow.accepted(), event], [dead, other])
    before = datetime.now(UTC)

    await store.queries.mark_replayed(dead.id)
    (row,) = [
        d for d in await store.queries.dead_letters(include_replayed=True) if d["id"] == dead.id
    ]
    assert row["replay_count"] == 1
    first_replay = _utc(row["replayed_at"])
    assert first_replay >= before

    await store.queries.mark_replayed(dead.id)
    await store.queries.mark_replayed("no-such-dead-letter")  # nothing to do, no error

    listed = {d["id"]: d for d in await store.queries.dead_letters(include_replayed=True)}
    assert listed[dead.id]["replay_count"] == 2
    assert _utc(listed[dead.id]["replayed_at"]) >= first_replay
    assert (listed[other.id]["replay_count"], listed[other.id]["replayed_at"]) == (0, None)


async def test_counts_by_status(store: Store) -> None:
    assert await store.queries.counts_by_status() == {}
    flows = [Flow(f"m{n}") for n in range(6)]
    events = [flow.accepted() for flow in flows[:5]] + [flows[5].rejected()]
    events += [flow.routed(TAX) for flow in flows[1:5]]
    events += [flow.delivered(TAX) for flow in flows[2:5]]
    events.append(flows[4].failed(TAX, 1, retrying=True))
    await store.index.apply(events, [])

    assert await store.queries.counts_by_status() == {
        "accepted": 1,
        "routed": 1,
        "delivered": 2,
        "failed": 1,
        "rejected": 1,
    }
