"""Opening the store: one async engine, tables created on first start."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from exchange.errors import ConfigError
from exchange.store.models import Base


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the dashboard read while the indexer writes; NORMAL is safe under
    # WAL against a process crash, and the store can be rebuilt from the backbone.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ConfigError(
            f"EXCHANGE_DATABASE_URL {url!r} is not supported; use "
            "'sqlite+aiosqlite:///path/store.db' or 'postgresql+asyncpg://user:pass@host/db'"
        )
    engine = create_async_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
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
