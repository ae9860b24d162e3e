"""Claim checks: payloads too large for one backbone record travel by reference.

The payload is stored once, under its SHA-256, in the hub's database; the record carries
the digest and size in headers and an empty value.  Whoever consumes the record fetches the
payload and checks it against the digest, so a payload that was changed or lost is noticed
(``CLAIM_ERROR``) instead of being delivered.  The database is the one every hub process
already shares, so a claim check made on one machine is redeemed on another.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import Integer, LargeBinary, MetaData, String, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from exchange.errors import BackboneError
from exchange.records.headers import CLAIM, CLAIM_BYTES, CLAIM_ERROR, CLAIM_HEADERS
from exchange.store.db import create_engine
from exchange.store.models import UtcDateTime

# The headers' names live with every other record header's (exchange/records/headers.py).
__all__ = [
    "CLAIM",
    "CLAIM_BYTES",
    "CLAIM_ERROR",
    "CLAIM_HEADERS",
    "ClaimStore",
    "ClaimedPayload",
    "digest_of",
]


class _Base(DeclarativeBase):
    metadata = MetaData()


class ClaimedPayload(_Base):
    __tablename__ = "claimed_payloads"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime())


def digest_of(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


class ClaimStore:
    """Payloads by digest, in the database at ``url`` (the store's database)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._engine: AsyncEngine | None = None

    async def start(self) -> None:
        self._engine = create_engine(self._url)
        try:
            async with self._engine.begin() as connection:
                await connection.run_sync(_Base.metadata.create_all)
        except SQLAlchemyError as exc:
            raise BackboneError(
                f"cannot open the claim-check table in {self._url.split('@')[-1]}: {exc}; "
                "check EXCHANGE_DATABASE_URL"
            ) from exc

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise BackboneError("the claim-check store is not started")
        return self._engine

    async def put(self, payload: bytes) -> dict[str, str]:
        """Keep ``payload``; the headers that claim it back."""
        digest = digest_of(payload)
        row = {
            "digest": digest,
            "size": len(payload),
            "body": payload,
            "stored_at": datetime.now(UTC),
        }
        try:
            async with self.engine.begin() as connection:
                found = await connection.scalar(
                    select(ClaimedPayload.digest).where(ClaimedPayload.digest == digest)
                )
                if found is None:
                    await connection.execute(insert(ClaimedPayload), row)
        except IntegrityError:
            pass  # the same payload, stored meanwhile by another publisher
        except SQLAlchemyError as exc:
            raise BackboneError(
                f"cannot store a {len(payload)}-byte payload for its claim check: {exc}; "
                "the message was not accepted, send it again"
            ) from exc
        return {CLAIM: f"sha256:{digest}", CLAIM_BYTES: str(len(payload))}

    async def redeem(self, headers: Mapping[str, str]) -> tuple[bytes, str | None]:
        """The payload a claim names, and None; or b"" and why it cannot be had."""
        claim = headers[CLAIM]
        algorithm, _, digest = claim.partition(":")
        if algorithm != "sha256" or len(digest) != 64:
            return b"", f"claim check {claim!r} is not 'sha256:<hex>'"
        async with self.engine.connect() as connection:
            body = await connection.scalar(
                select(ClaimedPayload.body).where(ClaimedPayload.digest == digest)
            )
        if body is None:
            return b"", f"the payload of claim check {claim} is missing from the store"
        if digest_of(body) != digest:
            return b"", (
                f"the payload kept for claim check {claim} does not match its hash "
                "(changed in the store); the message cannot be trusted"
            )
        return bytes(body), None
