"""Every store test runs twice, on SQLite and on a real PostgreSQL server, on an empty database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from exchange.backbone.topics import INBOUND, delivery_topic
from exchange.envelope import Envelope
from exchange.pipeline import events
from exchange.pipeline.deadletter import dead_letter, from_record
from exchange.store import DeadLetter, Store
from exchange.store.models import Base
from tests.postgres import PostgresServer

MESSAGE_TYPE = "samr.EnterpriseRegistration"
ROUTE = "registration-fan-out"
# Adapter chains per endpoint, as the router reports them in its routed event.
ADAPTERS = {"legal-entity-registry": ["samr-to-canonical"], "tax-bureau": []}


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
    """Real pipeline events (decoded from their backbone records) for one message."""

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

    def accepted(self, size: int = 1234) -> dict[str, Any]:
        return events.decode(events.accepted(self.envelope, size, "rest").value)

    def rejected(self, reason: str = "line 3: element 'x' is not expected") -> dict[str, Any]:
        return events.decode(events.rejected(self.envelope, 99, 422, reason).value)

    def routed(self, *endpoints: str) -> dict[str, Any]:
        destinations = [
            {"endpoint": e, "route": ROUTE, "adapters": ADAPTERS.get(e, [])} for e in endpoints
        ]
        return self._event(events.ROUTED, destinations=destinations)

    def delivered(self, endpoint: str, attempt: int = 1, status: int = 200) -> dict[str, Any]:
        return self._event(
            events.DELIVERED, attempt=attempt, status=status, elapsed_ms=12.5, **_trace(endpoint)
        )

    def failed(
        self, endpoint: str, attempt: int, *, retrying: bool, status: int | None = 503
    ) -> dict[str, Any]:
        return self._event(
            events.FAILED,
            attempt=attempt,
            error=f"HTTP {status}: try later",
            status=status,
            retrying=retrying,
            **_trace(endpoint),
        )

    def dead_lettered(
        self, endpoint: str | None, reason: str = "after 3 attempts: HTTP 503: try later"
    ) -> tuple[dict[str, Any], DeadLetter]:
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
        return events.decode(event_record.value), from_record(dict(record.headers), record.value)

    def replayed(self, dead: DeadLetter) -> dict[str, Any]:
        fields: dict[str, Any] = {"dead_letter": dead.id, "topic": dead.topic}
        if dead.endpoint:
            fields["endpoint"] = dead.endpoint
        return self._event(events.REPLAYED, **fields)

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return events.decode(events.event(kind, self.id, **fields).value)


def _trace(endpoint: str) -> dict[str, Any]:
    return {"endpoint": endpoint, "route": ROUTE, "adapters": ADAPTERS.get(endpoint, [])}
