"""Opening the store: one async engine, tables created on first start."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, event, inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.schema import CreateIndex

from exchange.errors import ConfigError
from exchange.owner_only import private_file
from exchange.store.models import Base

log = logging.getLogger(__name__)

WAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes a SQLite store's -wal file is cut back to


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the dashboard read while the indexer writes; NORMAL is safe under
    # WAL against a process crash, and the store can be rebuilt from the backbone.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    # Retention deletes in large transactions; without a limit the -wal file would keep
    # the size of the largest one for good.
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    cursor.close()


def _sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL; None for an in-memory or URI-named database."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    if url.query.get("uri") or url.query.get("mode") == "memory":
        return None
    return Path(database)


def _owner_only_before_connecting(path: Path) -> Callable[..., None]:
    def prepare(*_args: Any) -> None:
        # Before SQLite opens (and so would create) the file: it must never exist readable
        # by others, and SQLite gives its -wal and -shm files the same mode.
        private_file(path)

    return prepare


def create_engine(url: str) -> AsyncEngine:
    if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ConfigError(
            f"EXCHANGE_DATABASE_URL {url!r} is not supported; use "
            "'sqlite+aiosqlite:///path/store.db' or 'postgresql+asyncpg://user:pass@host/db'"
        )
    engine = create_async_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        path = _sqlite_file(engine.url)
        if path is not None:
            event.listen(engine.sync_engine, "do_connect", _owner_only_before_connecting(path))
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _create_schema(connection: Connection) -> None:
    """Create missing tables, and missing indexes on the tables an earlier version made.

    ``create_all`` creates a table's indexes only with the table, so an index added to a
    model later would never reach a store that already exists.
    """
    existing = set(inspect(connection).get_table_names())
    Base.metadata.create_all(connection)
    inspector = inspect(connection)
    for table in Base.metadata.sorted_tables:
        if table.name not in existing:
            continue  # just created, indexes and all
        present = {index["name"] for index in inspector.get_indexes(table.name)}
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            if index.name in present:
                continue
            log.info(
                "adding index %s to the store's %s table (once; on a large store this "
                "takes a while)",
                index.name,
                table.name,
            )
            # IF NOT EXISTS: a second process starting at the same moment may add it first.
            connection.execute(CreateIndex(index, if_not_exists=True))


async def create_tables(engine: AsyncEngine) -> None:
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_create_schema)
    except (SQLAlchemyError, OSError) as exc:
        raise ConfigError(
            f"cannot open the store at {engine.url.render_as_string(hide_password=True)}: "
            f"{exc}; check EXCHANGE_DATABASE_URL and that the database is reachable"
        ) from exc


def sessions(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)
