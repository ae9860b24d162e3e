"""Dead letters filtered, counted and discarded; replays and discards in the message's trace
and status (who did it, and why)."""

from __future__ import annotations

from exchange.records.events import Discarded, Replayed, decode, encode
from exchange.store import DeadLetter, Store
from exchange.store.dead_letters import DeadLetterFilter

from .conftest import Flow

TAX = "tax-bureau"
LER = "legal-entity-registry"


async def _dead_letters(store: Store) -> dict[str, tuple[Flow, DeadLetter]]:
    """Four dead letters: two for the tax bureau (a 400 and a 503), one for the registry,
    one of the router's."""
    made: dict[str, tuple[Flow, DeadLetter]] = {}
    for name, endpoint, reason in (
        ("tax-400", TAX, "HTTP 400: Refused, 100% sure"),
        ("tax-503", TAX, "after 5 attempts: HTTP 503: try later"),
        ("ler-400", LER, "HTTP 400: bad document"),
        ("route", None, "no route takes it"),
    ):
        flow = Flow(name)
        event, dead = flow.dead_lettered(endpoint, reason=reason)
        await store.index.apply([flow.accepted(), event], [dead])
        made[name] = (flow, dead)
    return made


def _ids(rows: list[dict[str, object]]) -> set[object]:
    return {row["id"] for row in rows}


async def test_a_filter_selects_by_endpoint_stage_and_a_piece_of_the_reason(store: Store) -> None:
    made = await _dead_letters(store)
    dead = store.queries.dead
    ids = {name: d.id for name, (_, d) in made.items()}

    assert _ids(await dead.page(DeadLetterFilter())) == set(ids.values())
    assert _ids(await dead.page(DeadLetterFilter(endpoint=TAX))) == {ids["tax-400"], ids["tax-503"]}
    assert _ids(await dead.page(DeadLetterFilter(stage="route"))) == {ids["route"]}
    # Any case; a % typed is a percent sign, not a wildcard.
    assert _ids(await dead.page(DeadLetterFilter(reason="http 400"))) == {
        ids["tax-400"],
        ids["ler-400"],
    }
    assert _ids(await dead.page(DeadLetterFilter(reason="100%"))) == {ids["tax-400"]}
    assert _ids(await dead.page(DeadLetterFilter(reason="1%0"))) == set()
    both = DeadLetterFilter(endpoint=TAX, reason="400")
    assert _ids(await dead.page(both)) == {ids["tax-400"]}
    assert await dead.count(both) == 1
    assert await dead.count(DeadLetterFilter(reason="400")) == 2
    assert await dead.replayable_ids(DeadLetterFilter(endpoint=TAX), limit=10) == [
        ids["tax-400"],
        ids["tax-503"],
    ]
    assert await dead.replayable_ids(DeadLetterFilter(endpoint=TAX), limit=1) == [ids["tax-400"]]


async def test_a_page_can_name_the_sender_and_its_message_id(store: Store) -> None:
    made = await _dead_letters(store)
    rows = await store.queries.dead.page(DeadLetterFilter(endpoint=LER), with_message=True)
    assert [(r["message"], r["message_id"], r["sender"]) for r in rows] == [
        (made["ler-400"][0].id, "ler-400", "samr-reg")
    ]


async def test_a_discarded_dead_letter_is_hidden_kept_and_never_counted_for_replay(
    store: Store,
) -> None:
    made = await _dead_letters(store)
    dead = store.queries.dead
    tax_400 = made["tax-400"][1].id

    assert await dead.discard([tax_400], by="demo-operator", reason="sent twice") == [tax_400]
    # A second discard (another operator at the same moment) changes nothing.
    assert await dead.discard([tax_400], by="someone-else", reason="late") == []

    assert tax_400 not in _ids(await dead.page(DeadLetterFilter()))
    assert tax_400 not in _ids(await store.queries.dead_letters(include_replayed=True))
    shown = [
        r for r in await dead.page(DeadLetterFilter(include_discarded=True)) if r["id"] == tax_400
    ]
    assert len(shown) == 1
    assert shown[0]["discarded"]["by"] == "demo-operator"
    assert shown[0]["discarded"]["reason"] == "sent twice"
    every = DeadLetterFilter(endpoint=TAX, include_discarded=True, include_replayed=True)
    assert await dead.count(every) == 1  # the 503 one: a discarded one is never replayed
    checked = await dead.check([tax_400, "no-such-id"])
    assert checked.unknown == ["no-such-id"]
    assert [(c.id, c.replayed, c.discarded and c.discarded["by"]) for c in checked.found] == [
        (tax_400, False, "demo-operator")
    ]
    (loaded,) = await dead.load([tax_400, "no-such-id"])
    assert loaded == made["tax-400"][1]  # payload and headers as they were stored

    await dead.undo_discard([tax_400])
    assert tax_400 in _ids(await dead.page(DeadLetterFilter()))


async def test_a_replay_shows_who_did_it_in_the_trace(store: Store) -> None:
    flow = Flow("replayed-by")
    event, dead = flow.dead_lettered(TAX, reason="HTTP 400: refused")
    await store.index.apply([flow.accepted(), flow.routed(TAX), event], [dead])
    replayed = decode(
        encode(
            Replayed(
                id=flow.id,
                dead_letter=dead.id,
                topic=dead.topic,
                endpoint=TAX,
                by="demo-operator",
            )
        )
    )
    await store.index.apply([replayed, flow.delivered(TAX, attempt=1)], [])

    message = await store.queries.message(flow.id)
    assert message is not None
    assert message["status"] == "delivered"
    step = next(s for s in message["trace"] if s["step"] == "replayed")
    assert step["by"] == "demo-operator"
    assert step["endpoint"] == TAX
    assert step["dead_letter"] == dead.id


async def test_a_discard_finishes_the_delivery_and_the_message_says_so(store: Store) -> None:
    flow = Flow("discarded")
    event, dead = flow.dead_lettered(TAX, reason="HTTP 400: refused")
    # Indexed in three batches: the last one recomputes the status in SQL from the
    # deliveries the store holds.
    await store.index.apply([flow.accepted(), flow.routed(TAX, LER)], [])
    await store.index.apply([flow.delivered(LER), event], [dead])
    before = await store.queries.message(flow.id)
    assert before is not None and before["status"] == "dead_lettered"

    discarded = decode(
        encode(
            Discarded(
                id=flow.id, dead_letter=dead.id, by="demo-operator", reason="a test", endpoint=TAX
            )
        )
    )
    await store.index.apply([discarded], [])

    message = await store.queries.message(flow.id)
    assert message is not None
    assert message["status"] == "discarded"
    assert message["last_error"] == "discarded by demo-operator: a test"
    tax = next(d for d in message["deliveries"] if d["endpoint"] == TAX)
    assert tax["status"] == "discarded"
    step = message["trace"][-1]
    assert (step["step"], step["endpoint"], step["by"], step["reason"]) == (
        "discarded",
        TAX,
        "demo-operator",
        "a test",
    )


async def test_a_discard_in_the_same_batch_as_the_message_sets_its_status(store: Store) -> None:
    flow = Flow("discarded-at-once")
    event, dead = flow.dead_lettered(TAX)
    discarded = Discarded(id=flow.id, dead_letter=dead.id, by="op", reason="why", endpoint=TAX)
    await store.index.apply([flow.accepted(), flow.routed(TAX, LER), flow.delivered(LER)], [])
    await store.index.apply([event, discarded], [dead])
    message = await store.queries.message(flow.id)
    assert message is not None and message["status"] == "discarded"


async def test_discarding_the_routers_dead_letter_finishes_the_message(store: Store) -> None:
    flow = Flow("unroutable")
    event, dead = flow.dead_lettered(None, reason="no route takes it")
    await store.index.apply([flow.accepted(), event], [dead])
    await store.index.apply(
        [Discarded(id=flow.id, dead_letter=dead.id, by="op", reason="not ours")], []
    )
    message = await store.queries.message(flow.id)
    assert message is not None
    assert message["status"] == "discarded"
    assert message["trace"][-1]["by"] == "op"
