"""The console's dead letters: list and filter them, count a filter, replay, discard.

- ``GET  /console/api/dead-letters``: a page, newest first (``endpoint``, ``stage``,
  ``reason`` (a piece of it), ``include_replayed``, ``include_discarded``, ``limit``,
  ``cursor``), with the endpoints there are to filter by.
- ``GET  /console/api/dead-letters/count``: how many a replay of that filter would replay.
- ``POST /console/api/dead-letters/replay``: ``{"ids": [...]}``, or ``{"filter": {...},
  "expect": N}`` with N the count the operator confirmed.  The server takes the ids the
  filter matches now and refuses (409, nothing replayed) unless there are exactly N of
  them; otherwise it replays exactly those.  So a dead letter that arrived after the
  confirmation is not replayed unseen, and one replayed meanwhile is not replayed twice.
- ``POST /console/api/dead-letters/discard``: ``{"ids": [...], "reason": "..."}``.

Acting needs an operator's session and its CSRF token (``may_act``); each action is an
event naming the operator, so the message's trace says who did it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from exchange.console.session import ConsoleUser, may_act, signed_in
from exchange.errors import ExchangeError
from exchange.hub import Hub
from exchange.ingress.paging import MAX_PAGE, BadQuery
from exchange.ingress.problems import problem
from exchange.pipeline.replay import (
    MAX_AT_ONCE,
    AlreadyDiscarded,
    AlreadyReplayed,
    UnknownDeadLetter,
    discard_many,
    replay_many,
)
from exchange.store.dead_letters import STAGES, BadCursor, DeadLetterFilter, dead_letter_cursor

PAGE = 50
MAX_REASON = 2000  # characters of a discard's reason


def _flag(name: str, raw: Any) -> bool:
    if raw is None or raw is False or raw is True:
        return bool(raw)
    value = str(raw).lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no", ""):
        return False
    raise BadQuery(f"{name} {str(raw)[:40]!r} is not a boolean; send true or false")


def _text(name: str, raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise BadQuery(f"{name} must be a string, not {type(raw).__name__}")
    return raw


def read_filter(given: Mapping[str, Any]) -> DeadLetterFilter:
    """The filter of a query string or of a replay's ``filter`` object."""
    stage = _text("stage", given.get("stage"))
    if stage is not None and stage not in STAGES:
        raise BadQuery(f"stage {stage[:40]!r} is not one of {', '.join(STAGES)}")
    return DeadLetterFilter(
        endpoint=_text("endpoint", given.get("endpoint")),
        stage=stage,
        reason=_text("reason", given.get("reason")),
        include_replayed=_flag("include_replayed", given.get("include_replayed")),
        include_discarded=_flag("include_discarded", given.get("include_discarded")),
    )


def _limit(raw: str | None) -> int:
    if raw is None:
        return PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise BadQuery(f"limit {raw[:40]!r} is not a whole number from 1 to {MAX_PAGE}")
    return int(raw)


def _ids(raw: Any) -> list[str]:
    if not isinstance(raw, list) or not raw or not all(isinstance(i, str) for i in raw):
        raise BadQuery('"ids" must be a non-empty list of dead letter ids')
    if len(raw) > MAX_AT_ONCE:
        raise BadQuery(f'"ids" holds {len(raw)} ids; send at most {MAX_AT_ONCE} at once')
    return list(raw)


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise BadQuery(f"the body is not JSON ({exc}); send a JSON object") from exc
    if not isinstance(body, dict):
        raise BadQuery("the body must be a JSON object")
    return body


def _bad(exc: Exception) -> JSONResponse:
    return problem(400, "Bad request", str(exc))


def _unavailable(exc: ExchangeError) -> JSONResponse:
    return problem(
        503,
        "Backbone unavailable",
        f"the backbone did not take the records ({exc}); nothing was lost, try again",
    )


def router(hub: Hub) -> APIRouter:
    # The console's own API: not part of the REST contract that /openapi.json documents.
    api = APIRouter(prefix="/console/api/dead-letters", include_in_schema=False)

    @api.get("")
    async def listing(request: Request, _: ConsoleUser = Depends(signed_in)) -> JSONResponse:
        query = request.query_params
        try:
            which = read_filter(query)
            limit = _limit(query.get("limit"))
            rows = await hub.store.queries.dead.page(
                which, limit=limit + 1, after=query.get("cursor") or None, with_message=True
            )
        except (BadQuery, BadCursor) as exc:
            return _bad(exc)
        following = dead_letter_cursor(rows[limit - 1]) if len(rows) > limit else None
        return JSONResponse(
            {
                "dead_letters": rows[:limit],
                "next_cursor": following,
                "filter": which.as_dict(),
                "endpoints": sorted(hub.rules.routing.endpoints),
                "stages": list(STAGES),
            }
        )

    @api.get("/count")
    async def count(request: Request, _: ConsoleUser = Depends(signed_in)) -> JSONResponse:
        try:
            which = read_filter(request.query_params)
        except BadQuery as exc:
            return _bad(exc)
        found = await hub.store.queries.dead.count(which)
        return JSONResponse({"count": found, "filter": which.as_dict()})

    @api.post("/replay")
    async def replay(request: Request, user: ConsoleUser = Depends(may_act)) -> JSONResponse:
        queries = hub.store.queries
        try:
            body = await _body(request)
            if "ids" in body:
                ids = _ids(body["ids"])
            elif "filter" in body:
                given = body["filter"]
                expect = body.get("expect")
                if not isinstance(given, dict):
                    raise BadQuery('"filter" must be a JSON object (endpoint, stage, reason, ...)')
                if isinstance(expect, bool) or not isinstance(expect, int) or expect < 0:
                    raise BadQuery(
                        '"expect" must be the count the operator confirmed '
                        "(GET /console/api/dead-letters/count)"
                    )
                ids = await queries.dead.replayable_ids(read_filter(given), limit=MAX_AT_ONCE + 1)
                if len(ids) > MAX_AT_ONCE:
                    raise BadQuery(f"more than {MAX_AT_ONCE} dead letters match; narrow the filter")
                if len(ids) != expect:
                    return problem(
                        409,
                        "Conflict",
                        f"{len(ids)} dead letters match the filter now, not the {expect} "
                        "confirmed; nothing was replayed: look again and confirm the new count",
                        count=len(ids),
                    )
            else:
                raise BadQuery('send {"ids": [...]} or {"filter": {...}, "expect": N}')
        except BadQuery as exc:
            return _bad(exc)
        try:
            replayed = await replay_many(ids, queries=queries, backbone=hub.backbone, by=user.name)
        except UnknownDeadLetter as exc:
            return problem(404, "Not found", str(exc))
        except AlreadyDiscarded as exc:
            return problem(409, "Conflict", str(exc))
        except ExchangeError as exc:
            return _unavailable(exc)
        return JSONResponse({"replayed": replayed, "by": user.name}, status_code=202)

    @api.post("/discard")
    async def discard(request: Request, user: ConsoleUser = Depends(may_act)) -> JSONResponse:
        try:
            body = await _body(request)
            ids = _ids(body.get("ids"))
            reason = body.get("reason")
            if not isinstance(reason, str) or not reason.strip():
                raise BadQuery('"reason" is required: say why these dead letters are discarded')
            if len(reason) > MAX_REASON:
                raise BadQuery(f'"reason" is {len(reason)} characters; keep it to {MAX_REASON}')
        except BadQuery as exc:
            return _bad(exc)
        try:
            discarded = await discard_many(
                ids,
                queries=hub.store.queries,
                backbone=hub.backbone,
                by=user.name,
                reason=reason.strip(),
            )
        except UnknownDeadLetter as exc:
            return problem(404, "Not found", str(exc))
        except AlreadyReplayed as exc:
            return problem(409, "Conflict", str(exc))
        except ExchangeError as exc:
            return _unavailable(exc)
        return JSONResponse({"discarded": discarded, "by": user.name})

    return api
