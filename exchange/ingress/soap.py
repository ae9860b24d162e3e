"""The SOAP front door: ``/soap`` on the hub's own port, WSDL at ``/soap?wsdl``.

See README.md "The SOAP contract". Like the REST front door this is transport only: the
request is read within limits, checked by ``exchange.xml.parse`` *before* anything else
parses it, taken apart (``soap_envelope``), and the decisions are made by the same
``Intake.submit`` as for REST. The contract (types, WSDL, answers, fault details) is the
spyne service in ``soap_service``.

It runs on the event loop: the XML work per request (the safe parse, spyne reading the header
and writing the answer) is about 0.2 ms, less than handing it to a thread would cost, and
intake is awaited, never blocked on.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from lxml import etree
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from exchange import xml
from exchange.errors import ExchangeError, Forbidden, Problem, RejectedMessage, Unauthenticated
from exchange.hub import Hub
from exchange.ingress import soap_service as service
from exchange.ingress.callers import bearer_key
from exchange.ingress.rest import read_body, receive_body
from exchange.ingress.soap_envelope import (
    ENVELOPE_DEPTH,
    HUB,
    SOAP11,
    MalformedEnvelope,
    SoapRequest,
    SoapVersion,
    UnknownOperation,
    UsernameToken,
    WrongAction,
    decompose,
    fault,
    negotiate,
    take_document,
    username_token,
)
from exchange.pipeline.intake import Accepted, Submission
from exchange.records.status import MessageStatus

log = logging.getLogger(__name__)

PATH = "/soap"
# Room for the envelope and its headers around a document of the maximum size.
ENVELOPE_BYTES = 64 * 1024
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


class NotFound(RejectedMessage):
    status = 404
    title = "Not found"


class SoapFrontDoor:
    """ASGI front of the app that answers ``/soap`` and passes everything else on."""

    def __init__(self, hub: Hub, app: ASGIApp) -> None:
        self._hub = hub
        self._app = app
        self._wsdl = service.WsdlCache()
        self._operations: dict[str, Callable[[SoapRequest, Headers], Awaitable[bytes]]] = {
            f"{{{HUB}}}{service.SUBMIT}": self._submit,
            f"{{{HUB}}}{service.GET_STATUS}": self._status,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH:
            await self._app(scope, receive, send)
            return
        method = scope["method"]
        response: Response
        if method in ("GET", "HEAD") and _asks_for_wsdl(scope):
            wsdl = self._wsdl.get(_address(scope))
            response = Response(wsdl, media_type="text/xml; charset=utf-8")
        elif method != "POST":
            response = PlainTextResponse(
                f"POST SOAP requests to {PATH}; the WSDL is at {PATH}?wsdl",
                status_code=405,
                headers={"Allow": "GET, HEAD, POST"},
            )
        else:
            try:
                response = await self._answer(Headers(scope=scope), receive)
            except ClientDisconnect:
                return  # nobody is left to answer; nothing was accepted
        await response(scope, receive, send)

    async def _answer(self, headers: Headers, receive: Receive) -> Response:
        version = SOAP11  # until the client says otherwise, faults are SOAP 1.1
        try:
            version, action = negotiate(headers.get("content-type"), headers.get("soapaction"))
            settings = self._hub.settings
            limit = settings.max_message_bytes + ENVELOPE_BYTES
            raw = await read_body(headers, receive_body(receive), limit)
            # Hostile XML stops here, before spyne or anything else parses the request.
            tree = xml.parse(
                raw, max_bytes=limit, max_depth=settings.max_xml_depth + ENVELOPE_DEPTH
            )
            request = decompose(tree.getroot(), version)
            tag = request.operation.tag
            operation = self._operations.get(tag) if isinstance(tag, str) else None
            name = etree.QName(request.operation).localname
            if operation is None:
                raise UnknownOperation(
                    f"no operation {tag}; the Body's element must be {{{HUB}}}Submit or "
                    f"{{{HUB}}}GetStatus (see {PATH}?wsdl)"
                )
            if action is not None and action not in (name, f"{HUB}#{name}"):
                raise WrongAction(
                    f"SOAPAction {action!r} does not match the Body's operation {name!r}; "
                    f'send SOAPAction "{name}" (see {PATH}?wsdl)'
                )
            answer = await operation(request, headers)
        except RejectedMessage as exc:
            return _fault(version, exc)
        except ExchangeError as exc:
            return _fault_response(
                version,
                client=False,
                status=503,
                title="Hub unavailable",
                detail=f"{exc}; try again shortly",
            )
        except ClientDisconnect:
            raise
        except Exception:
            log.exception("SOAP request failed")
            return _fault_response(
                version,
                client=False,
                status=500,
                title="Internal error",
                detail="the hub failed; try again shortly",
            )
        return Response(answer, status_code=200, media_type=version.content_type)

    async def _submit(self, request: SoapRequest, headers: Headers) -> bytes:
        blocks = [h for h in request.headers if h.tag == f"{{{HUB}}}ExchangeHeader"]
        if len(blocks) > 1:
            raise MalformedEnvelope("more than one ExchangeHeader; send one")
        envelope = service.read_header(blocks[0]) if blocks else None
        token = username_token(request.headers)
        key = _key(token, headers)
        claimed = getattr(envelope, "sender", None)
        sender = _sender(claimed, token)
        wrapper = request.operation.find(f"{{{HUB}}}document")
        if wrapper is None:
            raise MalformedEnvelope(
                f'Submit has no <document>; put the business document in <document xmlns="{HUB}">'
            )
        answer = await self._hub.intake.submit(
            Submission(
                body=take_document(wrapper),
                key=key,
                sender=sender,
                message_id=getattr(envelope, "messageId", None),
                correlation_id=getattr(envelope, "correlationId", None),
                message_type=getattr(envelope, "messageType", None),
                schema_version=getattr(envelope, "schemaVersion", None),
                via="soap",
            )
        )
        return service.response(request.version.name, service.SUBMIT, _receipt(answer))

    async def _status(self, request: SoapRequest, headers: Headers) -> bytes:
        """GetStatus: GET /v1/messages/{id}, with the same permissions and the same data."""
        token = username_token(request.headers)
        key = _key(token, headers)
        identity = await self._hub.store.keys.identify(key) if key else None
        if identity is None:
            raise Unauthenticated(
                "a valid key is needed: send a WS-Security UsernameToken or "
                "'Authorization: Bearer <key>'"
            )
        if token is not None and token.username and token.username != identity.sender:
            raise Forbidden(
                f"this key belongs to sender {identity.sender!r}, not {token.username!r}"
            )
        hub_id = service.read_status_request(request.operation)
        if not hub_id:
            raise MalformedEnvelope("GetStatus has no <id>; send the id from the Submit receipt")
        found = await self._hub.intake.message(hub_id)
        if found is None:
            raise NotFound(f"no message {hub_id!r}; use the id from the Submit receipt")
        if not identity.reads_any and found["sender"] != identity.sender:
            raise Forbidden("this message was sent by another sender")
        return service.response(request.version.name, service.GET_STATUS, _status(found))


def _key(token: UsernameToken | None, headers: Headers) -> str | None:
    """The key from the UsernameToken or the Bearer header (either; both must agree)."""
    bearer = bearer_key(headers)
    if token is not None and bearer is not None and token.password != bearer:
        raise Unauthenticated(
            "the UsernameToken's password and the Bearer key differ; send one key, in either"
        )
    return token.password if token is not None else bearer


def _sender(claimed: str | None, token: UsernameToken | None) -> str | None:
    username = token.username if token is not None else None
    if claimed and username and claimed != username:
        raise Forbidden(
            f"the ExchangeHeader names sender {claimed!r} but the UsernameToken {username!r}; "
            "send your own sender code in both"
        )
    return claimed or username


def _asks_for_wsdl(scope: Scope) -> bool:
    query: bytes = scope.get("query_string", b"")
    return query.split(b"&", 1)[0].split(b"=", 1)[0].lower() == b"wsdl"


def _address(scope: Scope) -> str:
    """The URL the client used to reach /soap: the WSDL's soap:address."""
    host = Headers(scope=scope).get("host", "")
    if not _HOST.match(host):  # a Host header that is no host name: use the socket's address
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}{PATH}"


def _receipt(answer: Accepted) -> Any:
    return service.Receipt(
        id=answer.id,
        messageId=answer.message_id,
        correlationId=answer.correlation_id,
        status=MessageStatus.ACCEPTED,
        duplicate=answer.duplicate,
    )


_STEP_FIELDS = ("at", "step", "endpoint")


def _fact(name: str, value: Any) -> Any:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return service.Fact(name=name, value=text)


def _status(found: dict[str, Any]) -> Any:
    return service.MessageStatus(
        id=found["id"],
        status=found["status"],
        sender=found.get("sender"),
        messageId=found.get("message_id"),
        correlationId=found.get("correlation_id"),
        messageType=found.get("message_type"),
        schemaVersion=found.get("schema_version"),
        sizeBytes=found.get("size_bytes"),
        receivedAt=found.get("received_at"),
        updatedAt=found.get("updated_at"),
        lastError=found.get("last_error"),
        trace=[
            service.Step(
                at=step.get("at"),
                step=step["step"],
                endpoint=step.get("endpoint"),
                facts=[
                    _fact(name, value)
                    for name, value in step.items()
                    if name not in _STEP_FIELDS and value is not None
                ],
            )
            for step in found["trace"]
        ],
        deliveries=[
            service.DeliveryRecord(
                endpoint=d["endpoint"],
                route=d.get("route"),
                adapters=d.get("adapters") or [],
                status=d.get("status"),
                attempts=d.get("attempts"),
                lastError=d.get("last_error"),
                httpStatus=d.get("http_status"),
                updatedAt=d.get("updated_at"),
            )
            for d in found["deliveries"]
        ],
    )


def _fault(version: SoapVersion, exc: RejectedMessage) -> Response:
    return _fault_response(
        version,
        client=True,
        status=exc.status,
        title=exc.title,
        detail=exc.detail,
        problems=exc.problems,
    )


def _fault_response(
    version: SoapVersion,
    *,
    client: bool,
    status: int,
    title: str,
    detail: str,
    problems: list[Problem] | None = None,
) -> Response:
    """A fault whose detail is the REST problem answer: status, title, detail, errors."""
    problem = service.Problem(
        status=status,
        title=title,
        detail=detail,
        errors=[service.Error(**p.as_dict()) for p in problems or []],
    )
    body = fault(
        version,
        client=client,
        reason=f"{title}: {detail}",
        detail=service.problem_element(problem),
    )
    http_status = version.client_http_status if client else 500
    return Response(body, status_code=http_status, media_type=version.content_type)
