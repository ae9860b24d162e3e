"""The lines of correlation ids: who goes, who waits, who follows a retry."""

from __future__ import annotations

import asyncio

from exchange.pipeline.ordering import CorrelationOrder


async def test_a_later_record_of_an_id_waits_for_the_earlier_one_and_others_do_not() -> None:
    order = CorrelationOrder()
    first, second, other = order.enter("a", None), order.enter("a", None), order.enter("b", None)
    await asyncio.wait_for(first.turn(), 1)
    await asyncio.wait_for(other.turn(), 1)
    waiting = asyncio.create_task(second.turn())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    order.leave(first)
    await asyncio.wait_for(waiting, 1)


async def test_after_a_retry_the_later_records_follow_it_until_it_is_read_back() -> None:
    order = CorrelationOrder()
    first, second = order.enter("a", None), order.enter("a", None)
    generation = order.rescheduled(first)
    order.leave(first)
    await second.turn()
    assert order.forward_as(second) == generation  # behind the retry, unsent
    order.leave(second)
    retry, follower = order.enter("a", generation), order.enter("a", generation)
    assert order.forward_as(retry) is None  # read back: its turn, send it
    order.leave(retry)
    assert order.forward_as(follower) is None
    order.leave(follower)
    assert len(order) == 0  # nothing of the id is kept once it drained
    assert order.forward_as(order.enter("a", None)) is None


async def test_a_retry_record_written_before_its_id_moved_again_is_forwarded_again() -> None:
    order = CorrelationOrder()
    head, stale = order.enter("a", 1), order.enter("a", 1)
    assert order.forward_as(head) is None
    moved = order.rescheduled(head)  # failed again: now at the end, behind ``stale``
    order.leave(head)
    assert order.forward_as(stale) == moved
    order.leave(stale)
