"""The REST front door (FastAPI): the contract departmental systems build against.

See README.md "REST contract".  Everything here is transport: reading headers
and body within limits, mapping errors to problem+json; the decisions are
made by exchange.pipeline.intake, shared with every other front door.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from exchange import console, metrics
from exchange.catalog import api as catalog_api
from exchange.envelope import HEADERS as ENVELOPE
from exchange.errors import (
    ExchangeError,
    PayloadTooLarge,
    RejectedMessage,
    Unauthenticated,
    UnsupportedMediaType,
)
from exchange.hub import Hub
from exchange.ingress import admin, callers, http_errors, openapi
from exchange.ingress.callers import bearer_key
from exchange.ingress.paging import BadQuery, DeadLetterPage
from exchange.ingress.problems import problem
from exchange.ingress.readiness import readiness
from exchange.metrics import scrape as metrics_endpoint
from exchange.pipeline.intake import Submission
from exchange.pipeline.replay import AlreadyDiscarded, UnknownDeadLetter, replay
from exchange.reload import rules_health
from exchange.store import BadCursor, Identity, dead_letter_cursor

log = logging.getLogger(__name__)

SUBMIT = "/v1/messages"
XML_TYPES = ("application/xml", "text/xml")


def _rejection(exc: RejectedMessage) -> JSONResponse:
    errors = [p.as_dict() for p in exc.problems]
    response = problem(exc.status, exc.title, exc.detail, errors=errors)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="exchange"'
    return response


def _is_xml(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in XML_TYPES or (media.startswith("application/") and media.endswith("+xml"))


async def read_body(headers: Headers, stream: AsyncIterator[bytes], limit: int) -> bytes:
    declared = headers.get("content-length")
    too_large = PayloadTooLarge(
        f"message is over the limit of {limit} bytes; send a smaller document or ask the "
        "operators to raise EXCHANGE_MAX_MESSAGE_BYTES"
    )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def submit_message(hub: Hub, headers: Headers, stream: AsyncIterator[bytes]) -> Response:
    """POST /v1/messages: the answer for one submission, refusals included."""
    handed_over = False  # refusals from here on are the intake's, counted there
    try:
        key = bearer_key(headers)
        if key is None:  # who comes before what: 401 before 415/413
            raise Unauthenticated(
                "no key: send 'Authorization: Bearer <key>' with the key the operators "
                "issued to your system"
            )
        if not _is_xml(headers.get("content-type")):
            raise UnsupportedMediaType(
                f"content type {headers.get('content-type')!r} is not XML; send the document "
                "with 'Content-Type: application/xml'"
            )
        body = await read_body(headers, stream, hub.settings.max_message_bytes)
        handed_over = True
        answer = await hub.intake.submit(
            Submission(
                body=body,
                key=key,
                sender=headers.get(ENVELOPE["sender"]),
                message_id=headers.get(ENVELOPE["message_id"]),
                correlation_id=headers.get(ENVELOPE["correlation_id"]),
                message_type=headers.get(ENVELOPE["message_type"]),
                schema_version=headers.get(ENVELOPE["schema_version"]),
                via="rest",
            )
        )
    except RejectedMessage as exc:
        if not handed_over:
            metrics.current().rejected("", exc.status, exc.title)
        return _rejection(exc)
    except ExchangeError as exc:
        return _unavailable(exc)
    response = JSONResponse(answer.as_dict(), status_code=202)
    response.headers["Location"] = f"/v1/messages/{answer.id}"
    if answer.duplicate:
        response.headers["X-Exchange-Duplicate"] = "true"
    return response


def _unavailable(exc: ExchangeError) -> JSONResponse:
    return problem(503, "Hub unavailable", f"{exc}; try again shortly")


class SubmitFastPath:
    """ASGI front of the app that answers POST /v1/messages itself.

    Submission is the hot path: going through FastAPI's routing and middleware
    stack cost about as much as the hub's own work per message (measured with
    ``make bench``), so it is served here and everything else by FastAPI.
    """

    def __init__(self, hub: Hub, app: ASGIApp) -> None:
        self._hub = hub
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == SUBMIT:
            try:
                response = await submit_message(
                    self._hub, Headers(scope=scope), receive_body(receive)
                )
            except ClientDisconnect:
                return  # nobody is left to answer; nothing was accepted
            except Exception:
                log.exception("submission failed")
                response = problem(500, "Internal error", "the hub failed; try again shortly")
            await response(scope, receive, send)
            return
        await self._app(scope, receive, send)


async def receive_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


def create_app(hub: Hub) -> FastAPI:
    app = FastAPI(
        title="Exchange hub",
        version="1",
        summary="Submit XML messages; see where they went.",
        # The hub records its own trace; FastAPI's OpenTelemetry hooks cost ~7% of the
        # front door's time per request (looking up global providers) for nothing.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # /docs is served by openapi.install from local assets: FastAPI's loads a CDN.
        docs_url=None,
        redoc_url=None,
    )

    @app.exception_handler(RejectedMessage)
    async def rejected(_: Request, exc: RejectedMessage) -> JSONResponse:
        return _rejection(exc)

    async def identify(request: Request) -> Identity:
        return await callers.caller(hub.store.keys, request.headers)

    async def operator(request: Request) -> Identity:
        return await callers.operator(hub.store.keys, request.headers)

    async def reader(request: Request) -> Identity:
        return await callers.reader(hub.store.keys, request.headers)

    @app.post(
        SUBMIT,
        status_code=202,
        summary="Submit an XML message",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/xml": {"schema": {"type": "string"}}},
            }
        },
    )
    async def submit(request: Request) -> Response:
        # Served by SubmitFastPath in front of this app; kept for the OpenAPI contract
        # and for hosts that mount the app without it.
        return await submit_message(hub, request.headers, request.stream())

    @app.get("/v1/messages/{hub_id}", summary="Status and trace of one message")
    async def message(hub_id: str, request: Request) -> JSONResponse:
        identity = await identify(request)
        found = await hub.intake.message(hub_id)
        if found is None:
            return problem(
                404,
                "Not found",
                f"no message {hub_id!r}; use the id from the 202 answer",
            )
        if not identity.reads_any and found["sender"] != identity.sender:
            return problem(403, "Forbidden", "this message was sent by another sender")
        return JSONResponse(found)

    @app.get("/v1/dead-letters", summary="Dead letters waiting for an operator")
    async def dead_letters(request: Request) -> JSONResponse:
        # Parameters are read here, after the key is checked (who before what), rather
        # than by FastAPI, which would judge them before anyone is authenticated.
        # Viewers may read the list; only operators replay.
        await reader(request)
        try:
            page = DeadLetterPage.from_query(request.query_params)
            rows = await hub.store.queries.dead_letters(
                include_replayed=page.include_replayed,
                endpoint=page.endpoint,
                limit=page.limit + 1,  # one more tells whether another page follows
                after=page.cursor,
            )
        except (BadCursor, BadQuery) as exc:
            return problem(400, "Bad request", str(exc))
        following = dead_letter_cursor(rows[page.limit - 1]) if len(rows) > page.limit else None
        return JSONResponse({"dead_letters": rows[: page.limit], "next_cursor": following})

    @app.post("/v1/dead-letters/{dead_letter_id}/replay", summary="Replay a dead letter")
    async def replay_one(dead_letter_id: str, request: Request) -> JSONResponse:
        identity = await operator(request)
        try:
            result = await replay(
                dead_letter_id,
                queries=hub.store.queries,
                backbone=hub.backbone,
                by=identity.sender,
            )
        except UnknownDeadLetter as exc:
            return problem(404, "Not found", str(exc))
        except AlreadyDiscarded as exc:
            return problem(409, "Conflict", str(exc))
        return JSONResponse(result, status_code=202)

    @app.get("/healthz", summary="Liveness and the messages in flight")
    async def healthz() -> JSONResponse:
        # Probes call this often: it reads the backlog, never the whole store.
        try:
            reading = await hub.store.health.read()
        except Exception as exc:
            return JSONResponse({"status": "degraded", "store": str(exc)}, status_code=503)
        # Records the indexer could not write (each logged as an error): the hub works,
        # but those messages' statuses may be stale until an operator looks.
        return JSONResponse(
            {
                "status": "ok",
                "messages": reading.messages,
                "index_failures": reading.index_failures,
                "rules": rules_health(hub),
            }
        )

    # For probes, not for generated clients: outside the OpenAPI contract, as /metrics.
    @app.get(
        "/readyz",
        summary="Readiness: the backbone and the store are reachable",
        include_in_schema=False,
    )
    async def readyz() -> JSONResponse:
        # Liveness is /healthz; this one says whether messages can be taken now.
        ready, body = await readiness(hub)
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.exception_handler(ExchangeError)
    async def failure(_: Request, exc: ExchangeError) -> Response:
        return _unavailable(exc)

    http_errors.install(app)
    metrics_endpoint.install(app, hub)
    catalog_api.install(app, hub)
    admin.install(app, hub)
    openapi.install(app)
    console.mount(app, hub)
    return app
