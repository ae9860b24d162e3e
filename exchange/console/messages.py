"""The console's Messages pages: search, one message's timeline, and its documents.

- ``GET /console/api/messages?...``: search (exchange/store/search.py) by ``id``,
  ``message_id``, ``correlation_id``, ``sender``, ``message_type``, ``endpoint``
  (receiver), ``status``, ``since`` / ``until`` (ISO 8601, on the time received), ``limit``
  and ``cursor``; answers ``{"messages": [...], "next_cursor", "choices"}`` (``choices``:
  the senders, types, endpoints and statuses the form offers).
- ``GET /console/api/messages/{id}``: the envelope and status, the timeline, the
  deliveries and the documents of each hop (kept or why not).
- ``GET /console/api/messages/{id}/documents/{name}``: one document (``original`` or an
  endpoint's name) as indented UTF-8 text; ``?download=1``: the bytes as they travelled, as
  an attachment.

Every one needs a console session (operator or viewer): documents are shown to no one else.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from exchange.console import message_view
from exchange.console.document_text import pretty
from exchange.console.session import ConsoleUser, signed_in
from exchange.hub import Hub
from exchange.ingress.problems import problem
from exchange.records.status import MessageStatus
from exchange.store.documents import ORIGINAL
from exchange.store.search import DEFAULT_LIMIT, MAX_LIMIT, BadSearch, SearchFilter

_TEXT_FILTERS = ("id", "message_id", "correlation_id", "sender", "message_type", "endpoint")
_MAX_VALUE = 300
_NO_STORE = {"Cache-Control": "no-store"}
# A document is the sender's bytes: never let a browser run or sniff it as a page.
_DOCUMENT_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


class _BadParameter(ValueError):
    pass


def _time(name: str, value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise _BadParameter(
            f"{name}={value[:40]!r} is not a time; give ISO 8601, e.g. 2026-12-02T08:00:00Z"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _filter(request: Request) -> tuple[SearchFilter, int, str | None]:
    query = request.query_params
    values: dict[str, Any] = {}
    for name in _TEXT_FILTERS:
        value = query.get(name, "").strip()
        if len(value) > _MAX_VALUE:
            raise _BadParameter(f"{name} is longer than {_MAX_VALUE} characters; shorten it")
        if value:
            values[name] = value
    status = query.get("status", "").strip()
    if status:
        if status not in set(MessageStatus):
            raise _BadParameter(
                f"status {status[:40]!r} is not one; choose from {', '.join(MessageStatus)}"
            )
        values["status"] = status
    for name in ("since", "until"):
        value = query.get(name, "").strip()
        if value:
            values[name] = _time(name, value)
    raw_limit = query.get("limit", "").strip()
    try:
        limit = int(raw_limit) if raw_limit else DEFAULT_LIMIT
    except ValueError as exc:
        raise _BadParameter(
            f"limit={raw_limit[:20]!r} is not a number; give 1 to {MAX_LIMIT}"
        ) from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise _BadParameter(f"limit={limit} is out of range; give 1 to {MAX_LIMIT}")
    return SearchFilter(**values), limit, query.get("cursor") or None


def _choices(hub: Hub) -> dict[str, list[str]]:
    rules = hub.current_rules()
    return {
        "senders": sorted(rules.routing.senders),
        "message_types": sorted({schema.name for schema in rules.schemas}),
        "endpoints": sorted(rules.routing.endpoints),
        "statuses": [str(status) for status in MessageStatus],
    }


def _formats(hub: Hub) -> dict[str, str]:
    return {name: e.format for name, e in hub.current_rules().routing.endpoints.items()}


def _filename(message: dict[str, Any], name: str) -> str:
    stem = f"{message.get('message_id') or message['id']}-{name}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:150] + ".xml"


def router(hub: Hub) -> APIRouter:
    api = APIRouter(prefix="/console/api/messages", include_in_schema=False)

    @api.get("")
    async def search(request: Request, _: ConsoleUser = Depends(signed_in)) -> Response:
        try:
            where, limit, cursor = _filter(request)
            page = await hub.store.search.search(where, limit=limit, cursor=cursor)
        except (_BadParameter, BadSearch) as exc:
            return problem(400, "Bad request", str(exc))
        return JSONResponse(
            {
                "messages": page.messages,
                "next_cursor": page.next_cursor,
                "choices": _choices(hub),
            },
            headers=_NO_STORE,
        )

    @api.get("/{hub_id}")
    async def one(hub_id: str, _: ConsoleUser = Depends(signed_in)) -> Response:
        found = await hub.store.queries.message(hub_id)
        if found is None:
            return _unknown(hub_id)
        kept = await hub.store.documents.listed(hub_id)
        trace = found.pop("trace")
        deliveries = found.pop("deliveries")
        retention = hub.settings.document_retention_ms
        return JSONResponse(
            {
                "message": found,
                "timeline": message_view.timeline(trace),
                "deliveries": deliveries,
                "documents": message_view.documents(
                    {**found, "deliveries": deliveries},
                    kept,
                    formats=_formats(hub),
                    retention_ms=retention,
                ),
                "document_retention_ms": retention,
            },
            headers=_NO_STORE,
        )

    @api.get("/{hub_id}/documents/{name}")
    async def document(
        hub_id: str, name: str, request: Request, _: ConsoleUser = Depends(signed_in)
    ) -> Response:
        found = await hub.store.queries.message(hub_id)
        if found is None:
            return _unknown(hub_id)
        endpoint = ORIGINAL if name == message_view.ORIGINAL_NAME else name
        kept = await hub.store.documents.get(hub_id, endpoint)
        if kept is None:
            delivery = next((d for d in found["deliveries"] if d["endpoint"] == endpoint), None)
            if endpoint != ORIGINAL and delivery is None:
                return problem(
                    404,
                    "Not found",
                    f"message {hub_id} has no destination {name!r}; pick one of its documents "
                    "on its page",
                )
            _code, why = message_view.why_missing(
                message=found,
                delivery=delivery,
                retention_ms=hub.settings.document_retention_ms,
                now=datetime.now(UTC),
            )
            return problem(404, "Not found", f"the {name} document of {hub_id} is {why}")
        if request.query_params.get("download") in ("1", "true"):
            filename = _filename(found, name)
            return Response(
                kept.body,
                media_type="application/xml",
                headers={
                    **_DOCUMENT_HEADERS,
                    "Content-Disposition": f'attachment; filename="{filename}"',
                },
            )
        return Response(
            pretty(kept.body), media_type="text/plain; charset=utf-8", headers=_DOCUMENT_HEADERS
        )

    return api


def _unknown(hub_id: str) -> Response:
    return problem(
        404,
        "Not found",
        f"no message {hub_id[:80]!r} in the store (not yet indexed, or deleted by retention); "
        "search for it by its sender's message id",
    )
