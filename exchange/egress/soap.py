"""SOAP egress: the translated document as the body of a WSDL operation's request.

The endpoint names a WSDL (a file under routes/ or a URL), a service, a port and an
operation; zeep reads the WSDL once (``WsdlCache``, confined to the allowed locations)
and says which SOAP version, action, address and body element the operation takes.  The
request is sent over the same kind of pooled aiohttp client as the REST egress
(``exchange.egress.http``), with the document unchanged as the body element.

What the receiver gets: the SOAP envelope (``text/xml`` + ``SOAPAction`` for SOAP 1.1,
``application/soap+xml; action=...`` for 1.2), the hub's ``hub:Exchange`` SOAP header
(id, message id, correlation id, sender, type, attempt), an optional WS-Security
UsernameToken, and the same ``X-Exchange-*`` HTTP headers as REST receivers.

How answers are classified (the engine retries only what is retriable):

- a 2xx SOAP envelope without a Fault is a receipt (an empty 202, or an empty 2xx for a
  one-way operation, too);
- a ``Server`` (1.1) or ``Receiver`` (1.2) Fault, any 5xx (or 408/425/429) without a
  Fault, refused or reset connections and timeouts are retriable;
- a ``Client``/``Sender`` Fault (or any other fault code), another 4xx, a redirect or a
  2xx whose body is not a SOAP envelope is a rejection: the fault code, its reason and
  its detail text are in the error, and so in the message's trace.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar, Unpack

from exchange.egress.base import (
    EndpointMisconfigured,
    EndpointRejected,
    EndpointUnavailable,
    Outbound,
    Receipt,
)
from exchange.egress.http import (
    RETRIABLE_STATUSES,
    Answer,
    HttpEgress,
    HttpOptions,
    advice,
    excerpt,
    expand_headers,
    expand_variables,
    parse_retry_after,
    shown_url,
)
from exchange.egress.soap_endpoint import SoapEndpoint
from exchange.egress.soap_envelope import (
    DocumentMismatch,
    NotAnEnvelope,
    build_request,
    read_answer,
)
from exchange.egress.wsdl import SoapOperation, WsdlCache, WsdlUnreachable
from exchange.errors import ConfigError
from exchange.routing.model import Endpoint

# SOAP answers (acknowledgements) can be larger than REST ones; read them whole up to this.
MAX_ANSWER_BYTES = 1024 * 1024


class SoapEgress(HttpEgress):
    """Delivers to ``kind: soap`` endpoints over one shared, pooled HTTP client."""

    kind: ClassVar[str] = "soap"
    endpoint_model: ClassVar[type[Endpoint]] = SoapEndpoint

    def __init__(self, *, wsdl_cache: WsdlCache | None = None, **http: Unpack[HttpOptions]) -> None:
        """As ``RestEgress``; ``wsdl_cache`` shares loaded WSDLs (a test passes its own)."""
        super().__init__(**http)
        self.wsdls = wsdl_cache if wsdl_cache is not None else WsdlCache()

    def check(self, endpoint: Endpoint) -> None:
        """Loads the endpoint's WSDL (blocking: call it when loading configuration)."""
        soap = self._soap(endpoint)
        self.wsdls.operation(soap)
        expand_headers(soap, self._environ)
        self._credentials(soap)

    async def send(self, outbound: Outbound) -> Receipt:
        endpoint = self._soap(outbound.endpoint)
        operation = await self._operation(endpoint)
        address = endpoint.address or operation.address
        if not address:
            raise EndpointMisconfigured(
                f"endpoint {endpoint.name!r}: port {endpoint.port!r} of the WSDL gives no "
                "soap:address; set the endpoint's 'address'",
                endpoint=endpoint.name,
            )
        try:
            request = build_request(
                operation,
                outbound.payload,
                outbound.envelope,
                outbound.attempt,
                self._credentials(endpoint),
            )
        except DocumentMismatch as exc:
            raise EndpointMisconfigured(
                f"endpoint {endpoint.name!r}: {exc}", endpoint=endpoint.name
            ) from exc
        headers = {**operation.http_headers(), **self.exchange_headers(outbound)}
        answer = await self._http.request(
            endpoint, "POST", address, data=request, headers=headers, max_bytes=MAX_ANSWER_BYTES
        )
        return _receipt(endpoint, operation, address, answer)

    def _soap(self, endpoint: Endpoint) -> SoapEndpoint:
        if not isinstance(endpoint, SoapEndpoint):
            raise self.wrong_kind(endpoint)
        return endpoint

    async def _operation(self, endpoint: SoapEndpoint) -> SoapOperation:
        found = self.wsdls.cached(endpoint)
        if found is not None:
            return found
        try:
            # Reading a WSDL is blocking I/O (files, or zeep's HTTP client): off the loop.
            return await asyncio.to_thread(self.wsdls.operation, endpoint)
        except WsdlUnreachable as exc:
            raise EndpointUnavailable(
                f"endpoint {endpoint.name!r}: {exc}; retriable",
                endpoint=endpoint.name,
                url=endpoint.wsdl,
            ) from exc
        except ConfigError as exc:
            raise EndpointMisconfigured(str(exc), endpoint=endpoint.name) from exc

    def _credentials(self, endpoint: SoapEndpoint) -> tuple[str, str] | None:
        if endpoint.username is None or endpoint.password is None:
            return None
        return (
            expand_variables(endpoint, "username", endpoint.username, self._environ),
            expand_variables(endpoint, "password", endpoint.password, self._environ),
        )


def _receipt(
    endpoint: SoapEndpoint, operation: SoapOperation, address: str, answer: Answer
) -> Receipt:
    """The receipt for ``answer``, or the EndpointError that says why it is not one."""
    where = f"endpoint {endpoint.name!r} (SOAP {operation.operation} at {shown_url(address)})"
    status = answer.status
    ok = 200 <= status < 300
    answered = f"{where} answered HTTP {status}"
    try:
        soap = read_answer(answer.body) if answer.body.strip() else None
    except NotAnEnvelope as exc:
        soap = None
        if ok and len(answer.body) < MAX_ANSWER_BYTES:
            shown = excerpt(answer.body, answer.charset)
            raise EndpointRejected(
                f"{answered} but not with a SOAP envelope: {exc} ({answer.content_type}: "
                f'"{shown}"); check that the address is the SOAP service, then replay the '
                "message from the dead-letter queue",
                endpoint=endpoint.name,
                url=address,
                status=status,
            ) from exc
    if soap is not None and soap.fault is not None:
        fault = soap.fault
        if fault.retriable:
            wait = parse_retry_after(answer.retry_after)
            raise EndpointUnavailable(
                f"{answered} with {fault.describe()}; the receiver failed, retriable",
                endpoint=endpoint.name,
                url=address,
                status=status,
                retry_after=wait,
            )
        raise EndpointRejected(
            f"{answered} with {fault.describe()}; the receiver refused this document: fix "
            "the adapter output or the endpoint, then replay the message from the "
            "dead-letter queue",
            endpoint=endpoint.name,
            url=address,
            status=status,
        )
    if ok:
        if soap is None and not (status == 202 or operation.one_way or answer.body.strip()):
            raise EndpointRejected(
                f"{answered} with an empty body, but operation {operation.operation!r} "
                "answers with a message; check that the address is the SOAP service",
                endpoint=endpoint.name,
                url=address,
                status=status,
            )
        said = f"{status} {answer.reason}".rstrip()
        if soap is not None and soap.body_element:
            said += f": SOAP {soap.body_element}"
        return Receipt(status=status, detail=said, elapsed=answer.elapsed)
    if status in RETRIABLE_STATUSES or status >= 500:
        wait = parse_retry_after(answer.retry_after)
        asked = f", not before {wait:g} s as it asked" if wait is not None else ""
        raise EndpointUnavailable(
            f"{where} answered {answer.said} without a SOAP fault; the receiver is "
            f"unavailable or overloaded, retriable{asked}",
            endpoint=endpoint.name,
            url=address,
            status=status,
            retry_after=wait,
        )
    raise EndpointRejected(
        f"{where} answered {answer.said}; {advice(status, answer.location)}",
        endpoint=endpoint.name,
        url=address,
        status=status,
    )
