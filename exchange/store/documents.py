"""The documents of a message at each hop: what the sender sent and what each receiver got.

The console shows them beside the message's timeline.  They are written by the document
writer (exchange/pipeline/documents.py) from the backbone's ``inbound`` records (the
original, kept under the endpoint name ``""``) and ``deliver.<endpoint>`` records (the copy
the router translated for that endpoint), and deleted by store retention once older than
``document_retention_ms``.  A replay that translates again replaces the endpoint's copy.

Bodies from ``COMPRESS_FROM`` bytes up are zlib-compressed at its fastest level (XML shrinks
to a third or less; SQLite would spread such a row over overflow pages); smaller ones, most
messages' documents, are kept as they are: compressing them cost more CPU (0.05 ms per
message of four documents) than the disk it saved was worth.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from exchange.store.models import DocumentRow

ORIGINAL = ""  # the endpoint name the original document is kept under
COMPRESSION_LEVEL = 1
COMPRESS_FROM = 8192  # bytes
ZLIB = "zlib"  # the encoding of a compressed body ("": as it is)


def _table() -> Table:
    table: Table = DocumentRow.__table__  # type: ignore[assignment]
    return table


_DOCUMENTS = _table()


@dataclass(frozen=True, slots=True)
class Document:
    """One document of one message: the original (``endpoint`` "") or a destination's."""

    message: str
    endpoint: str
    body: bytes
    captured_at: datetime
    route: str = ""
    adapters: tuple[str, ...] = ()

    @property
    def original(self) -> bool:
        return self.endpoint == ORIGINAL


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """What the store holds of a document, without its body."""

    endpoint: str
    size_bytes: int
    captured_at: datetime
    route: str
    adapters: tuple[str, ...]


def _row(document: Document) -> dict[str, Any]:
    body = document.body
    compress = len(body) >= COMPRESS_FROM
    return {
        "message": document.message,
        "endpoint": document.endpoint,
        "route": document.route,
        "adapters": ",".join(document.adapters),
        "size_bytes": len(body),
        "encoding": ZLIB if compress else "",
        "body": zlib.compress(body, COMPRESSION_LEVEL) if compress else body,
        "captured_at": document.captured_at,
    }


def _names(adapters: str) -> tuple[str, ...]:
    return tuple(name for name in adapters.split(",") if name)


class Documents:
    """Writes and reads the ``documents`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        module: Any = postgresql if engine.dialect.name == "postgresql" else sqlite
        statement = module.insert(_DOCUMENTS)
        # The same record consumed twice (a restart before the commit) writes the same row;
        # a replay's new translation replaces the copy the endpoint got before.
        self._upsert = statement.on_conflict_do_update(
            index_elements=["message", "endpoint"],
            set_={
                c: getattr(statement.excluded, c)
                for c in ("route", "adapters", "size_bytes", "encoding", "body", "captured_at")
            },
        )
        self._connection: AsyncConnection | None = None

    async def write(self, documents: Sequence[Document]) -> None:
        if not documents:
            return
        # Later records of one (message, endpoint) win: one row each, in record order.
        rows = {(d.message, d.endpoint): _row(d) for d in documents}
        connection = await self._connect()
        try:
            async with connection.begin():
                await connection.execute(self._upsert, list(rows.values()))
        except BaseException:
            await self.close()  # the connection may be what failed: a new one next time
            raise

    async def _connect(self) -> AsyncConnection:
        # One connection kept between batches, as the indexer's: a checkout per batch would
        # have the pool open and close connections under load.
        if self._connection is None or self._connection.invalidated:
            await self.close()
            self._connection = await self._engine.connect()
        return self._connection

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            # Already failing or closing: nothing on it is worth keeping.
            with contextlib.suppress(Exception):
                await connection.close()

    async def listed(self, message: str) -> list[DocumentInfo]:
        """The documents the store holds for ``message``, the original first."""
        d = _DOCUMENTS.c
        query = (
            select(d.endpoint, d.size_bytes, d.captured_at, d.route, d.adapters)
            .where(d.message == message)
            .order_by(d.endpoint)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            DocumentInfo(
                endpoint=row.endpoint,
                size_bytes=row.size_bytes,
                captured_at=row.captured_at,
                route=row.route,
                adapters=_names(row.adapters),
            )
            for row in rows
        ]

    async def get(self, message: str, endpoint: str) -> Document | None:
        """One document, its body as it travelled (decompressed); None if not kept."""
        d = _DOCUMENTS.c
        query = select(d.body, d.encoding, d.captured_at, d.route, d.adapters).where(
            d.message == message, d.endpoint == endpoint
        )
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        return Document(
            message=message,
            endpoint=endpoint,
            body=zlib.decompress(row.body) if row.encoding == ZLIB else row.body,
            captured_at=row.captured_at,
            route=row.route,
            adapters=_names(row.adapters),
        )
