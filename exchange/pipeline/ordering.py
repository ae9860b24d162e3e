"""Order per correlation id at one endpoint: a later message waits for an earlier one.

Records of one correlation id (the backbone key) are taken one at a time, in the order they
were fetched; different ids go concurrently.  A retry leaves the deliver topic for the end of
the retry topic, so once a delivery of an id is rescheduled, that id's later records follow it
there ("forwarded", no try spent) instead of being sent, and the retry topic is the id's queue
until it drains.

Rescheduling a record that came from the retry topic puts it at the end of that topic again,
behind records of its id that may still be unread.  Each move raises the id's *generation*,
carried by every record written to the retry topic; a record of an older generation is then
known to be behind the moved one and is forwarded again when its turn comes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class _Id:
    generation: int = 0
    unread: int = 0  # records of this generation written to the retry topic, not read back
    tail: asyncio.Future[None] | None = None  # the last ticket's release


@dataclass
class Ticket:
    """One record's place in its correlation id's line."""

    key: str | None
    generation: int | None  # from the retry topic: its generation; from deliver: None
    _before: asyncio.Future[None] | None
    _release: asyncio.Future[None] = field(repr=False)

    async def turn(self) -> None:
        """Wait until every earlier record of the id has finished."""
        if self._before is not None:
            await asyncio.shield(self._before)


class CorrelationOrder:
    """The lines of one endpoint's correlation ids (in memory, one consumer's view)."""

    def __init__(self) -> None:
        self._ids: dict[str, _Id] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def enter(self, key: str | None, generation: int | None) -> Ticket:
        """Join the line, in fetch order (synchronously, before any await)."""
        release: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if key is None:  # no correlation id: nothing to keep in order with
            return Ticket(None, generation, None, release)
        state = self._ids.setdefault(key, _Id())
        if generation is not None:
            if generation > state.generation:  # moved by an earlier run of this worker
                state.generation, state.unread = generation, 0
            elif generation == state.generation and state.unread > 0:
                state.unread -= 1
        before, state.tail = state.tail, release
        return Ticket(key, generation, before, release)

    def forward_as(self, ticket: Ticket) -> int | None:
        """At the ticket's turn: the generation to forward it to the retry topic with (an
        earlier record of its id is there, ahead of it), or None: send it now."""
        if ticket.key is None:
            return None
        state = self._ids[ticket.key]
        if ticket.generation is None:  # from the deliver topic
            behind = state.unread > 0
        else:  # from the retry topic: behind a record moved after it was written
            behind = ticket.generation < state.generation
        if not behind:
            return None
        state.unread += 1
        return state.generation

    def rescheduled(self, ticket: Ticket) -> int:
        """The ticket's record goes to the end of the retry topic: the generation it carries.
        Everything of its id not yet taken is behind it from now on."""
        if ticket.key is None:
            return 0
        state = self._ids[ticket.key]
        state.generation += 1
        state.unread = 1
        return state.generation

    def leave(self, ticket: Ticket) -> None:
        """The record finished (delivered, dead-lettered, moved, or cut off by a stop)."""
        if not ticket._release.done():
            ticket._release.set_result(None)
        if ticket.key is None:
            return
        state = self._ids.get(ticket.key)
        if state is not None and state.tail is ticket._release and state.unread == 0:
            del self._ids[ticket.key]  # nothing of it waits, here or on the retry topic
