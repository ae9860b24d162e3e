"""The backlog of every endpoint, asked of the backbone once a second by the front door.

``Backbone.backlog`` says how many records wait on an endpoint's deliver and retry topics
for its delivery group, now.  The overview shows the latest sample (read from memory, not
asked again per request) and charts the samples kept in the store
(exchange/store/backlog.py).  The delivery process may be another process: the backbone's
positions are what every process shares.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from exchange.backbone.topics import delivery_topic, retry_topic
from exchange.hub import Hub
from exchange.pipeline.delivery import GROUP as DELIVERY_GROUP
from exchange.store.backlog import BacklogSamples, Waiting

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 1.0
COMPLAIN_EVERY_SECONDS = 60.0  # a failing sample is logged once a minute, not every second


class BacklogSampler:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self.latest: dict[str, Waiting] = {}
        self.latest_at: datetime | None = None
        self._complained = 0.0
        self._samples: BacklogSamples | None = None

    async def sample(self) -> dict[str, Waiting]:
        """Ask the backbone now, for every configured endpoint."""
        names = sorted(self._hub.rules.routing.endpoints)
        backbone = self._hub.backbone

        async def one(name: str) -> Waiting:
            deliver, retry = delivery_topic(name), retry_topic(name)
            waiting = await backbone.backlog(f"{DELIVERY_GROUP}.{name}", [deliver, retry])
            return Waiting(waiting.get(deliver, 0), waiting.get(retry, 0))

        found = await asyncio.gather(*(one(name) for name in names))
        self.latest = dict(zip(names, found, strict=True))
        self.latest_at = datetime.now(UTC)
        return self.latest

    async def current(self) -> dict[str, Waiting]:
        """The latest sample if it is fresh, else a new one (the sampler may not be running:
        a hub embedded without ``exchange serve``)."""
        at = self.latest_at
        if at is not None and (datetime.now(UTC) - at).total_seconds() < 2 * INTERVAL_SECONDS:
            return self.latest
        try:
            return await self.sample()
        except Exception as error:  # the overview shows the rest without it
            self._complain(error)
            return {}

    async def run(self, stop: asyncio.Event) -> None:
        """Sample and keep it, once a second, until ``stop``."""
        while not stop.is_set():
            # On the second, so that each sample lands in its own second's bucket.
            delay = INTERVAL_SECONDS - time.time() % INTERVAL_SECONDS
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
                return
            except TimeoutError:
                pass
            try:
                waiting = await self.sample()
                if self._samples is None:
                    self._samples = BacklogSamples(self._hub.store.engine)
                await self._samples.record(self.latest_at or datetime.now(UTC), waiting)
            except Exception as error:  # the backbone or the store is away: try next second
                self._complain(error)

    def _complain(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._complained >= COMPLAIN_EVERY_SECONDS:
            self._complained = now
            log.warning(
                "could not sample the endpoints' backlog (%r); the console's backlog chart "
                "has a gap until the backbone and the store answer again",
                error,
            )
