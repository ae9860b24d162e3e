"""What ``GET /healthz`` reads from the store, at a cost that does not grow with the store.

A health check is called every few seconds by every load balancer and probe; it must not
read the whole message table.  It reports the backlog (the messages still in flight, found
through the status index: as many index entries as there are such messages) and the number of
records the indexer set aside.  Finished messages (delivered, rejected) and dead-lettered ones
are not counted here: they are what the store holds by the million, and the dead letters have
their own listing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from exchange.records.status import MessageStatus
from exchange.store.models import IndexFailureRow, MessageRow

# The statuses of a message the hub is still working on, in the order they come.
IN_FLIGHT = (
    MessageStatus.ACCEPTED,
    MessageStatus.ROUTED,
    MessageStatus.DELIVERING,
    MessageStatus.FAILED,
)

BACKLOG = (
    select(MessageRow.status, func.count())
    .where(MessageRow.status.in_(IN_FLIGHT))
    .group_by(MessageRow.status)
)
# A plain COUNT: the table holds only records set aside (a handful, each logged as an
# error), and store retention deletes those older than EXCHANGE_STORE_RETENTION_MS.
SET_ASIDE = select(func.count()).select_from(IndexFailureRow)


@dataclass(frozen=True, slots=True)
class Reading:
    # every in-flight status, 0 included, so that a probe sees the same keys each time
    messages: dict[str, int]
    index_failures: int


class Health:
    def __init__(self, sessions: async_sessionmaker[Any]) -> None:
        self._sessions = sessions

    async def read(self) -> Reading:
        async with self._sessions() as session:
            counts: dict[str, int] = {str(status): 0 for status in IN_FLIGHT}
            for status, count in await session.execute(BACKLOG):
                counts[status] = int(count)
            set_aside = await session.scalar(SET_ASIDE)
        return Reading(messages=counts, index_failures=int(set_aside or 0))
