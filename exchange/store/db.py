"""Opening the store: one async engine, tables created on first start."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import URL, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from exchange.errors import ConfigError
from exchange.owner_only import private_file
from exchange.store.models import Base


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the dashboard read while the indexer writes; NORMAL is safe under
    # WAL against a process crash, and the store can be rebuilt from the backbone.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
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


async def create_tables(engine: AsyncEngine) -> None:
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
    except (SQLAlchemyError, OSError) as exc:
        raise ConfigError(
            f"cannot open the store at {engine.url.render_as_string(hide_password=True)}: "
            f"{exc}; check EXCHANGE_DATABASE_URL and that the database is reachable"
        ) from exc


def sessions(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)
