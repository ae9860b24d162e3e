"""REST: ``/v1/catalog`` (browse the message types) and ``/v1/subscriptions`` (ask for one).

Any valid key may browse; a department's key requests subscriptions for itself (its sender
code is the subscriber); operators approve or reject, and operators and viewers see all.
Refusals are problem+json, like the rest of the REST contract.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ValidationError

from exchange.catalog import openapi_doc
from exchange.catalog.derive import catalogue_of
from exchange.catalog.model import UnknownCatalogueType
from exchange.catalog.requests import SubscriptionRequest
from exchange.catalog.subscriptions import Refusal, SubscriptionDesk
from exchange.hub import Hub
from exchange.ingress import callers
from exchange.ingress.problems import problem
from exchange.store import Identity
from exchange.store.subscriptions import Subscriptions


class Localized(BaseModel):
    en: str | None = None
    zh: str | None = None


class TypeSummary(BaseModel):
    name: str
    qname: str
    owner: str | None
    title: Localized
    versions: list[str]
    publishers: list[str]
    subscribers: list[str]


class CatalogueList(BaseModel):
    rules_version: str | None
    types: list[TypeSummary]


class Samples(BaseModel):
    valid: list[str]
    invalid: list[str]


class VersionDetail(BaseModel):
    version: str
    qname: str
    xsd: str
    xsd_files: list[str]
    samples: Samples
    compatibility: str


class PublisherDetail(BaseModel):
    code: str
    name: str | None
    any_type: bool


class SubscriberDetail(BaseModel):
    route: str
    endpoint: str
    title: str | None
    kind: str
    format: str
    adapters: list[str] | None
    adapters_explicit: bool
    xpath: list[str]
    senders: list[str] | None
    problem: str | None


class TypeDetail(BaseModel):
    name: str
    qname: str
    owner: str | None
    title: Localized
    description: Localized
    versions: list[VersionDetail]
    publishers: list[PublisherDetail]
    subscribers: list[SubscriberDetail]


class SubscriptionAnswer(BaseModel):
    id: int
    subscriber: str
    message_type: str
    format: str
    request: dict[str, Any]
    status: str
    requested_at: str
    decided_by: str | None
    decided_at: str | None
    reason: str | None
    file: str | None
    reload: dict[str, Any] | None = None


class SubscriptionList(BaseModel):
    subscriptions: list[SubscriptionAnswer]


class Rejection(BaseModel):
    reason: str


_SUBSCRIPTION_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["message_type", "endpoint"],
                    "properties": {
                        "message_type": {"type": "string"},
                        "format": {"type": "string"},
                        "xpath": {"type": "array", "items": {"type": "string"}},
                        "namespaces": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        },
                        "endpoint": {
                            "oneOf": [
                                {"type": "string", "description": "an existing endpoint"},
                                {
                                    "type": "object",
                                    "required": ["url"],
                                    "properties": {
                                        "kind": {"type": "string", "enum": ["rest"]},
                                        "url": {"type": "string"},
                                        "method": {"type": "string", "enum": ["POST", "PUT"]},
                                        "timeout": {"type": "number"},
                                        "headers": {
                                            "type": "object",
                                            "additionalProperties": {"type": "string"},
                                        },
                                    },
                                },
                            ]
                        },
                    },
                }
            }
        },
    }
}
_REJECT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["reason"],
                    "properties": {"reason": {"type": "string"}},
                }
            }
        },
    }
}


def _subscription_id(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise Refusal(404, "Not found", f"no subscription {text!r}; ids are numbers")
    return int(text)


def _refused(exc: Refusal) -> JSONResponse:
    # Each problem as the contract's ProblemItem: a message (no line or path here).
    extra = {"errors": [{"message": text} for text in exc.problems]} if exc.problems else {}
    return problem(exc.status, exc.title, exc.detail, **extra)


def install(app: FastAPI, hub: Hub) -> None:
    """Add the catalogue's and the subscriptions' routes to ``app``."""
    openapi_doc.register(_SUBSCRIPTION_BODY, _REJECT_BODY)
    desk = SubscriptionDesk(
        Subscriptions(hub.store.engine),
        hub.current_rules,
        lambda: getattr(hub, "reloader", None),
    )

    async def identify(request: Request) -> Identity:
        return await callers.caller(hub.store.keys, request.headers)

    async def operator(request: Request) -> Identity:
        return await callers.operator(hub.store.keys, request.headers)

    async def body_of(request: Request) -> Any:
        try:
            return await request.json()
        except ValueError as exc:
            detail = f"the body is not JSON ({exc}); send a JSON object"
            raise Refusal(400, "Bad request", detail) from exc

    @app.get("/v1/catalog", summary="The catalogue of message types", response_model=CatalogueList)
    async def catalogue(request: Request) -> Any:
        await identify(request)
        rules = hub.current_rules()
        listing = catalogue_of(rules)
        return {"rules_version": listing.version, "types": [e.summary() for e in listing]}

    @app.get(
        "/v1/catalog/{message_type}",
        summary="One message type: versions, files, publishers and subscribers",
        response_model=TypeDetail,
    )
    async def catalogue_entry(message_type: str, request: Request) -> Any:
        await identify(request)
        try:
            return catalogue_of(hub.current_rules()).get(message_type).as_dict()
        except UnknownCatalogueType as exc:
            return problem(404, "Not found", str(exc))

    @app.get(
        "/v1/catalog/{message_type}/{version}/files/{path:path}",
        summary="Download an XSD or a sample of one version of a message type",
        response_class=Response,
    )
    async def catalogue_file(message_type: str, version: str, path: str, request: Request) -> Any:
        await identify(request)
        try:
            entry = catalogue_of(hub.current_rules()).get(message_type).version(version)
        except UnknownCatalogueType as exc:
            return problem(404, "Not found", str(exc))
        # Only the files the catalogue lists: no traversal, no other files of the folder.
        if path not in entry.files:
            return problem(
                404,
                "Not found",
                f"{message_type} {entry.version} has no file {path!r}; the entry lists "
                f"its files: {', '.join(entry.files)}",
            )
        file = Path(entry.folder, path)
        media = "application/xml"
        if file.suffix not in (".xml", ".xsd"):
            media = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        return FileResponse(file, media_type=media, filename=file.name)

    def answer(record: Any, reload: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        return {**record.as_dict(), "reload": reload, **extra}

    @app.get(
        "/v1/subscriptions",
        summary="Subscriptions: your own, or all with an operator or viewer key",
        response_model=SubscriptionList,
    )
    async def subscriptions(request: Request) -> Any:
        identity = await identify(request)
        records = await desk.list(None if identity.reads_any else identity.sender)
        return {"subscriptions": [answer(r) for r in records]}

    # The framework's 405 names only the methods of the first route matching a path (GET
    # here), so the other methods get their refusal, naming both, from this route.
    @app.api_route(
        "/v1/subscriptions",
        methods=["PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"],
        include_in_schema=False,
    )
    async def subscriptions_other(request: Request) -> Response:
        refused = problem(
            405,
            "Method Not Allowed",
            f"{request.method} is not allowed on /v1/subscriptions; use GET, POST",
        )
        refused.headers["Allow"] = "GET, POST"
        return refused

    @app.post(
        "/v1/subscriptions",
        status_code=201,
        summary="Ask to receive a message type (your key's sender is the subscriber)",
        response_model=SubscriptionAnswer,
    )
    async def subscribe(request: Request) -> Any:
        identity = await identify(request)
        try:
            asked = SubscriptionRequest.model_validate(await body_of(request))
            record = await desk.request(identity.sender, asked)
        except ValidationError as exc:
            errors = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            return _refused(Refusal(422, "Subscription refused", errors[0], errors))
        except Refusal as exc:
            return _refused(exc)
        response = JSONResponse(answer(record), status_code=201)
        response.headers["Location"] = f"/v1/subscriptions/{record.id}"
        return response

    @app.get(
        "/v1/subscriptions/{subscription_id}",
        summary="One subscription and its decision",
        response_model=SubscriptionAnswer,
    )
    async def subscription(subscription_id: str, request: Request) -> Any:
        identity = await identify(request)
        try:
            record = await desk.get(_subscription_id(subscription_id))
        except Refusal as exc:
            return _refused(exc)
        if not identity.reads_any and record.subscriber != identity.sender:
            return problem(403, "Forbidden", "this subscription belongs to another department")
        return answer(record)

    @app.post(
        "/v1/subscriptions/{subscription_id}/approve",
        summary="Approve a subscription: write its routes file and reload (operator)",
        response_model=SubscriptionAnswer,
    )
    async def approve(subscription_id: str, request: Request) -> Any:
        identity = await operator(request)
        try:
            approval = await desk.approve(_subscription_id(subscription_id), identity.sender)
        except Refusal as exc:
            return _refused(exc)
        return answer(approval.record, approval.reload)

    @app.post(
        "/v1/subscriptions/{subscription_id}/reject",
        summary="Reject a subscription with a reason (operator)",
        response_model=SubscriptionAnswer,
    )
    async def reject(subscription_id: str, request: Request) -> Any:
        identity = await operator(request)
        try:
            body = Rejection.model_validate(await body_of(request))
            sid = _subscription_id(subscription_id)
            record = await desk.reject(sid, identity.sender, body.reason)
        except ValidationError as exc:
            return problem(
                422, "Bad request", 'give {"reason": "..."}: ' + str(exc.errors()[0]["msg"])
            )
        except Refusal as exc:
            return _refused(exc)
        return answer(record)
