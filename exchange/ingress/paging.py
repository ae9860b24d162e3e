"""Query parameters of the listing endpoints, read and checked in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MAX_PAGE = 1000
DEFAULT_PAGE = 100


class BadQuery(ValueError):
    """A query parameter the hub cannot use; the message says which and what to send."""


def _limit(raw: str | None, default: int) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise BadQuery(f"limit {raw[:40]!r} is not a whole number from 1 to {MAX_PAGE}")
    return int(raw)


def _flag(name: str, raw: str | None) -> bool:
    if raw is None:
        return False
    value = raw.lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise BadQuery(f"{name} {raw[:40]!r} is not a boolean; send true or false")


@dataclass(frozen=True, slots=True)
class DeadLetterPage:
    """What ``GET /v1/dead-letters`` was asked for."""

    limit: int = DEFAULT_PAGE
    cursor: str | None = None
    include_replayed: bool = False
    endpoint: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> DeadLetterPage:
        return cls(
            limit=_limit(query.get("limit"), DEFAULT_PAGE),
            cursor=query.get("cursor") or None,
            include_replayed=_flag("include_replayed", query.get("include_replayed")),
            endpoint=query.get("endpoint") or None,
        )
