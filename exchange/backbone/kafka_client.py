"""Where the hub meets the Kafka client's habits: closes that ignore cancellation, futures it
cancels under a caller, and a dropped producer that would go on sending.

Each helper turns one of these into something a stage can live with: a bounded close, a
``BackboneError``, a producer that is silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable

from aiokafka import AIOKafkaProducer

from exchange.errors import BackboneError

log = logging.getLogger(__name__)

CLOSE_SECONDS = 5.0


def stop_sending(producer: AIOKafkaProducer) -> None:
    """Silence a dropped transactional producer at once.  Left to itself, aiokafka's sender
    goes on with the dropped transaction once the brokers answer again (adding partitions,
    sending batches, even ending it), so that a transaction given up on here could still
    partly complete beside the one that replaces it; seen after a broker restart as a message
    committed to some destinations and aborted for another.  With the sender cancelled,
    nothing more of it reaches the brokers, and the next producer (same transactional id)
    has the coordinator abort all of it.  (``_sender`` is aiokafka's, not public API.)"""
    sender = getattr(producer, "_sender", None)
    task = getattr(sender, "sender_task", None)
    if task is not None and not task.done():
        task.cancel()


@contextlib.asynccontextmanager
async def no_stray_cancel(what: str) -> AsyncIterator[None]:
    """aiokafka cancels futures of its own when a connection or coordinator is reset; a call
    awaiting one then raises CancelledError although nobody cancelled the caller, which
    would end the stage's task silently.  Such a CancelledError becomes a BackboneError; a
    real cancellation of the caller (a stop, a time-out) passes through."""
    try:
        yield
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        if task is None or task.cancelling():
            raise
        raise BackboneError(
            f"{what} was cut off by the Kafka client (a connection or coordinator was reset); "
            "nothing of it counts, it is tried again"
        ) from exc


# Closes that outlived CLOSE_SECONDS, kept referenced until they end by themselves.
_left_behind: set[asyncio.Future[None]] = set()


async def within(closing: Awaitable[None], what: str) -> None:
    """Close something that talks to the brokers without hanging a stage on them.

    Not ``asyncio.wait_for``: on its time-out it waits for the cancelled close to end, and
    aiokafka's closes can sit in shielded waits for a coordinator that never answers (a
    stuck router after a broker restart).  A close that takes too long is cancelled and
    left behind instead."""
    task = asyncio.ensure_future(closing)
    done, _ = await asyncio.wait({task}, timeout=CLOSE_SECONDS)
    if task in done:
        if not task.cancelled():  # cancelled inside the client: it has stopped all the same
            task.result()  # its error, if it failed
        return
    task.cancel()
    _left_behind.add(task)
    task.add_done_callback(_forget)
    log.warning(
        "%s did not close within %s s (brokers unreachable?); left behind: what it did not "
        "commit is delivered again",
        what,
        CLOSE_SECONDS,
    )


def _forget(task: asyncio.Future[None]) -> None:
    _left_behind.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a close left behind may fail quietly
