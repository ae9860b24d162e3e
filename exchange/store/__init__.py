"""The store: sender keys, the message index and audit trail, dead letters (SQLAlchemy 2, async)."""

from __future__ import annotations

from exchange.store.console_sessions import ConsoleSessions, SessionOwner
from exchange.store.db import create_engine, create_tables, sessions
from exchange.store.documents import Documents
from exchange.store.health import IN_FLIGHT, Health, Reading
from exchange.store.index import DeadLetter, Indexer, IndexFailure, message_status
from exchange.store.keys import Identity, KeyInfo, KeyStore, hash_key
from exchange.store.queries import BadCursor, Queries, dead_letter_cursor
from exchange.store.retention import StoreRetention, Swept
from exchange.store.search import MessageSearch


class Store:
    """One database: SQLite by default, PostgreSQL by URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self._sessions = sessions(self.engine)
        self.keys = KeyStore(self._sessions)
        self.index = Indexer(self.engine)
        self.queries = Queries(self._sessions)
        self.health = Health(self._sessions)
        self.console_sessions = ConsoleSessions(self._sessions)
        self.documents = Documents(self.engine)
        self.search = MessageSearch(self.engine)

    async def start(self) -> None:
        await create_tables(self.engine)

    async def close(self) -> None:
        await self.keys.close()
        await self.index.close()
        await self.documents.close()
        await self.engine.dispose()


__all__ = [
    "IN_FLIGHT",
    "BadCursor",
    "ConsoleSessions",
    "DeadLetter",
    "Health",
    "Identity",
    "IndexFailure",
    "Indexer",
    "KeyInfo",
    "KeyStore",
    "Queries",
    "Reading",
    "SessionOwner",
    "Store",
    "StoreRetention",
    "Swept",
    "dead_letter_cursor",
    "hash_key",
    "message_status",
]
