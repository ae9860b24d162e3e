"""Every store test runs twice, on SQLite and on a real PostgreSQL server, on an empty database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from exchange.backbone.topics import INBOUND, delivery_topic
from exchange.envelope import Envelope
from exchange.pipeline.deadletter import dead_letter, from_record
from exchange.records.events import (
    Accepted,
    DeadLettered,
    Delivered,
    Destination,
    Event,
    Failed,
    Rejected,
    Replayed,
    Routed,
    decode,
    encode,
)
from exchange.store import DeadLetter, Store
from exchange.store.models import Base
from tests.postgres import PostgresServer

MESSAGE_TYPE = "samr.EnterpriseRegistration"
ROUTE = "registration-fan-out"
# Adapter chains per endpoint, as the router reports them in its routed event.
ADAPTERS: dict[str, tuple[str, ...]] = {
    "legal-entity-registry": ("samr-to-canonical",),
    "tax-bureau": (),
}


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """One database for the session's PostgreSQL tests (emptied before each test)."""
    return postgres_server.create_database("store_tests")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a database on the backend named by the parameter."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """A started store on an empty database: a new file on SQLite, emptied tables on PostgreSQL.

    Emptying takes milliseconds where CREATE DATABASE takes a few hundred (it checkpoints).
    """
    store = Store(store_url)
    try:
        await store.start()
        if store.engine.dialect.name == "postgresql":
            tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
            async with store.engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        yield store
    finally:
        await store.close()


class Flow:
    """Real pipeline events for one message, as the indexer reads them (each one encoded for
    the backbone and decoded again)."""

    def __init__(self, message_id: str = "m-1", sender: str = "samr-reg") -> None:
        self.envelope = Envelope.new(
            sender=sender,
            message_type=MESSAGE_TYPE,
            message_id=message_id,
            schema_version="1.0",
        )

    @property
    def id(self) -> str:
        return self.envelope.id

    def accepted(self, size: int = 1234) -> Event:
        return _again(Accepted.of(self.envelope, size=size, via="rest"))

    def rejected(self, reason: str = "line 3: element 'x' is not expected") -> Event:
        return _again(Rejected.of(self.envelope, size=99, status=422, reason=reason))

    def routed(self, *endpoints: str) -> Event:
        destinations = tuple(
            Destination(endpoint=e, route=ROUTE, adapters=ADAPTERS.get(e, ())) for e in endpoints
        )
        return _again(Routed(id=self.id, destinations=destinations))

    def delivered(self, endpoint: str, attempt: int = 1, status: int = 200) -> Event:
        return _again(
            Delivered(
                id=self.id,
                attempt=attempt,
                status=status,
                elapsed_ms=12.5,
                endpoint=endpoint,
                route=ROUTE,
                adapters=ADAPTERS.get(endpoint, ()),
            )
        )

    def failed(
        self, endpoint: str, attempt: int, *, retrying: bool, status: int | None = 503
    ) -> Event:
        return _again(
            Failed(
                id=self.id,
                attempt=attempt,
                error=f"HTTP {status}: try later",
                status=status,
                retrying=retrying,
                endpoint=endpoint,
                route=ROUTE,
                adapters=ADAPTERS.get(endpoint, ()),
            )
        )

    def dead_lettered(
        self, endpoint: str | None, reason: str = "after 3 attempts: HTTP 503: try later"
    ) -> tuple[Event, DeadLetter]:
        """The dead_lettered event and the store's dead letter, as the indexer reads them."""
        record, event_record = dead_letter(
            envelope=self.envelope,
            stage="deliver" if endpoint else "route",
            reason=reason,
            payload=b"<Registration>\xe2\x82\xac</Registration>",
            replay_topic=delivery_topic(endpoint) if endpoint else INBOUND,
            headers=self.envelope.to_headers(),
            endpoint=endpoint,
        )
        event = decode(event_record.value)
        assert isinstance(event, DeadLettered)
        return event, from_record(dict(record.headers), record.value)

    def replayed(self, dead: DeadLetter) -> Event:
        return _again(
            Replayed(id=self.id, dead_letter=dead.id, topic=dead.topic, endpoint=dead.endpoint)
        )


def _again(event: Event) -> Event:
    """The event as it comes off the backbone."""
    return decode(encode(event))
