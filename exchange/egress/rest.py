"""REST egress: POST (or PUT) the translated document to a receiver's HTTP endpoint.

One pooled aiohttp session serves every REST endpoint, so connections to a receiver are
kept alive and reused across messages.  aiohttp rather than httpx because delivery is the
hub's hottest outbound path: on our 2-core machines ``bench/forward_clients.py`` measured
aiohttp forwarding 3 KB POSTs an order of magnitude faster than an httpx AsyncClient with
tuned limits (httpcore's pool slows down sharply as concurrency grows).

What the receiver gets: the document as the body, ``Content-Type: application/xml;
charset=utf-8``, every envelope field as an ``X-Exchange-*`` header (so it can deduplicate
on ``X-Exchange-Id``), ``X-Exchange-Attempt``, and the endpoint's configured headers with
``${VAR}`` taken from the environment.

The pooled client, the transport errors and ``${VAR}`` expansion are shared with the SOAP
egress (``exchange.egress.http``).  How answers are classified (the engine retries only what
is retriable):
2xx is a receipt; 408, 425, 429, 500, 502, 503, 504, refused or reset connections, DNS
failures and timeouts are retriable (with ``Retry-After`` kept on the error); everything
else, redirects included, is a rejection that another try would not change.
"""

from __future__ import annotations

from typing import ClassVar

from exchange.egress.base import (
    EndpointRejected,
    EndpointUnavailable,
    Outbound,
    Receipt,
)
from exchange.egress.http import (
    ATTEMPT_HEADER,
    RETRIABLE_STATUSES,
    HttpEgress,
    advice,
    expand_headers,
    parse_retry_after,
    shown_url,
)
from exchange.egress.rest_endpoint import RestEndpoint
from exchange.routing.model import Endpoint

CONTENT_TYPE = "application/xml; charset=utf-8"

__all__ = ["ATTEMPT_HEADER", "CONTENT_TYPE", "RestEgress", "expand_headers", "parse_retry_after"]


class RestEgress(HttpEgress):
    """Delivers to ``kind: rest`` endpoints over one shared, pooled HTTP client."""

    kind: ClassVar[str] = "rest"
    endpoint_model: ClassVar[type[Endpoint]] = RestEndpoint

    def check(self, endpoint: Endpoint) -> None:
        self._rest(endpoint)
        expand_headers(endpoint, self._environ)

    def _rest(self, endpoint: Endpoint) -> RestEndpoint:
        if not isinstance(endpoint, RestEndpoint):
            raise self.wrong_kind(endpoint)
        return endpoint

    def headers_for(self, outbound: Outbound) -> dict[str, str]:
        """Every header of the request, apart from those the HTTP client adds itself."""
        return {"Content-Type": CONTENT_TYPE, **self.exchange_headers(outbound)}

    async def send(self, outbound: Outbound) -> Receipt:
        endpoint = self._rest(outbound.endpoint)
        answer = await self._http.request(
            endpoint,
            endpoint.method,
            endpoint.url,
            data=outbound.payload,
            headers=self.headers_for(outbound),
        )
        status, said = answer.status, answer.said
        if 200 <= status < 300:
            return Receipt(status=status, detail=said, elapsed=answer.elapsed)
        where = f"endpoint {endpoint.name!r} ({endpoint.method} {shown_url(endpoint.url)})"
        if status in RETRIABLE_STATUSES:
            wait = parse_retry_after(answer.retry_after)
            asked = f", not before {wait:g} s as it asked" if wait is not None else ""
            raise EndpointUnavailable(
                f"{where} answered {said}; the receiver is unavailable or overloaded, "
                f"retriable{asked}",
                endpoint=endpoint.name,
                url=endpoint.url,
                status=status,
                retry_after=wait,
            )
        raise EndpointRejected(
            f"{where} answered {said}; {advice(status, answer.location)}",
            endpoint=endpoint.name,
            url=endpoint.url,
            status=status,
        )
