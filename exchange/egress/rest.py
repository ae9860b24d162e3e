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

How answers are classified (the engine retries only what is retriable):
2xx is a receipt; 408, 425, 429, 500, 502, 503, 504, refused or reset connections, DNS
failures and timeouts are retriable (with ``Retry-After`` kept on the error); everything
else, redirects included, is a rejection that another try would not change.
"""

from __future__ import annotations

import email.utils
import os
import re
import ssl
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from exchange.egress.base import (
    Egress,
    EndpointMisconfigured,
    EndpointRejected,
    EndpointUnavailable,
    Outbound,
    Receipt,
)
from exchange.envelope import HEADER_PREFIX
from exchange.errors import ConfigError
from exchange.routing.model import Endpoint

CONTENT_TYPE = "application/xml; charset=utf-8"
ATTEMPT_HEADER = "X-Exchange-Attempt"
USER_AGENT = "exchange-hub"
RETRIABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

_EXCERPT_CHARS = 200
# Enough of any answer for the trace; a bigger one is cut and its connection not reused.
_MAX_ANSWER_BYTES = 64 * 1024
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_headers(endpoint: Endpoint, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The endpoint's configured headers with each ``${VAR}`` replaced from ``environ``.

    Read at every send, so a rotated secret is picked up without a restart.
    """
    env = os.environ if environ is None else environ
    headers: dict[str, str] = {}
    for name, value in endpoint.headers.items():
        if name.lower().startswith(HEADER_PREFIX):
            raise ConfigError(
                f"endpoint {endpoint.name!r}: header {name!r} would overwrite the hub's "
                f"envelope headers ({HEADER_PREFIX}*); rename or remove it"
            )
        if "${" in value:
            value = _substitute(endpoint, name, value, env)
        if "\r" in value or "\n" in value:
            raise ConfigError(
                f"endpoint {endpoint.name!r}: header {name!r} holds a line break; "
                "remove it from the value (or from the environment variable it uses)"
            )
        headers[name] = value
    return headers


def _substitute(endpoint: Endpoint, header: str, value: str, env: Mapping[str, str]) -> str:
    return _VARIABLE.sub(lambda m: _variable(endpoint, header, m.group(1), env), value)


def _variable(endpoint: Endpoint, header: str, variable: str, env: Mapping[str, str]) -> str:
    try:
        return env[variable]
    except KeyError:
        raise EndpointMisconfigured(
            f"endpoint {endpoint.name!r}: header {header!r} needs environment variable "
            f"{variable}, which is not set; set it in the hub's environment and restart, "
            "or change the endpoint's headers",
            endpoint=endpoint.name,
        ) from None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def _shown_url(url: str) -> str:
    """The URL without any user:password part, fit for errors and traces."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _excerpt(body: bytes, charset: str | None) -> str:
    try:
        text = body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        text = body.decode("utf-8", errors="replace")
    # One line: errors and traces must stay one line per event.
    return " ".join(text.split())[:_EXCERPT_CHARS]


def _advice(status: int, location: str | None) -> str:
    if 300 <= status < 400:
        where = f" to {location}" if location else ""
        return f"the endpoint redirects{where}; set the endpoint's url to the final address"
    if status in (401, 403):
        return "check the endpoint's credential headers with the receiver"
    if status in (404, 405):
        return "check the endpoint's url and method with the receiver"
    if status == 413:
        return "the document is larger than the receiver accepts; agree a limit with it"
    if status == 415:
        return "check which content type the receiver expects"
    if 400 <= status < 500:
        return (
            "the receiver refused this document: fix the adapter output or the endpoint's "
            "format, then replay the message from the dead-letter queue"
        )
    return "ask the receiver's operators, then replay the message from the dead-letter queue"


class RestEgress(Egress):
    """Delivers to ``kind: rest`` endpoints over one shared, pooled HTTP client."""

    kind: ClassVar[str] = "rest"

    def __init__(
        self,
        *,
        max_connections: int = 100,
        max_connections_per_endpoint: int = 0,
        keepalive: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """``max_connections`` bounds open connections in all, ``max_connections_per_endpoint``
        per host and port (0: no bound of its own); ``ssl_context`` for receivers whose
        certificates come from a private authority; ``environ`` replaces ``os.environ``."""
        if max_connections < 1:
            raise ConfigError(f"max_connections must be 1 or more, got {max_connections}")
        if max_connections_per_endpoint < 0:
            raise ConfigError(
                "max_connections_per_endpoint must be 0 (no bound) or more, "
                f"got {max_connections_per_endpoint}"
            )
        self._max_connections = max_connections
        self._per_host = max_connections_per_endpoint
        self._keepalive = keepalive
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._environ = environ
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    async def start(self) -> None:
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=self._per_host,
            keepalive_timeout=self._keepalive,
            ttl_dns_cache=300,
            ssl=self._ssl,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": USER_AGENT},
            # Each delivery stands alone: no cookies carried from one answer to the next.
            cookie_jar=aiohttp.DummyCookieJar(),
            # Proxies are configured for the hub explicitly, never picked up by accident.
            trust_env=False,
        )

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def check(self, endpoint: Endpoint) -> None:
        if endpoint.kind != self.kind:
            raise ConfigError(
                f"endpoint {endpoint.name!r} is of kind {endpoint.kind!r}, not {self.kind!r}; "
                "hand it to the egress of its kind"
            )
        expand_headers(endpoint, self._environ)

    def headers_for(self, outbound: Outbound) -> dict[str, str]:
        """Every header of the request, apart from those the HTTP client adds itself."""
        headers = {"Content-Type": CONTENT_TYPE}
        headers.update(expand_headers(outbound.endpoint, self._environ))
        headers.update(outbound.envelope.to_headers())
        headers[ATTEMPT_HEADER] = str(outbound.attempt)
        return headers

    async def send(self, outbound: Outbound) -> Receipt:
        session = self._session
        if session is None:
            raise RuntimeError("RestEgress.send() before start(); await egress.start() first")
        endpoint = outbound.endpoint
        headers = self.headers_for(outbound)
        started = time.perf_counter()
        try:
            async with session.request(
                endpoint.method,
                endpoint.url,
                data=outbound.payload,
                headers=headers,
                timeout=self._timeout(endpoint.timeout),
                # A POST redirected is re-sent as GET by HTTP clients: refuse instead.
                allow_redirects=False,
            ) as response:
                answer = await _read_answer(response)
                status, reason = response.status, response.reason or ""
                charset = response.charset
                retry_after = response.headers.get("Retry-After")
                location = response.headers.get("Location")
        except TimeoutError as exc:
            raise EndpointUnavailable(
                f"endpoint {endpoint.name!r} ({endpoint.method} {_shown_url(endpoint.url)}) "
                f"did not answer within its timeout of {endpoint.timeout:g} s; retriable; "
                "if the receiver is just slow, raise the endpoint's timeout",
                endpoint=endpoint.name,
                url=endpoint.url,
            ) from exc
        except aiohttp.InvalidURL as exc:
            raise EndpointMisconfigured(
                f"endpoint {endpoint.name!r}: url {_shown_url(endpoint.url)} is not a valid "
                "URL; correct it in the endpoint file",
                endpoint=endpoint.name,
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise EndpointUnavailable(
                f"could not deliver to endpoint {endpoint.name!r} ({endpoint.method} "
                f"{_shown_url(endpoint.url)}): {_connection_problem(exc)}; retriable; "
                "check that the receiver is running and reachable from the hub",
                endpoint=endpoint.name,
                url=endpoint.url,
            ) from exc
        elapsed = time.perf_counter() - started
        excerpt = _excerpt(answer, charset)
        said = f"{status} {reason}".rstrip() + (f': "{excerpt}"' if excerpt else "")
        if 200 <= status < 300:
            return Receipt(status=status, detail=said, elapsed=elapsed)
        where = f"endpoint {endpoint.name!r} ({endpoint.method} {_shown_url(endpoint.url)})"
        if status in RETRIABLE_STATUSES:
            wait = parse_retry_after(retry_after)
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
            f"{where} answered {said}; {_advice(status, location)}",
            endpoint=endpoint.name,
            url=endpoint.url,
            status=status,
        )

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return timeout


async def _read_answer(response: aiohttp.ClientResponse) -> bytes:
    length = response.content_length
    if length is not None and length <= _MAX_ANSWER_BYTES:
        return await response.read()  # read to the end: the connection goes back to the pool
    answer = bytearray()
    while len(answer) < _MAX_ANSWER_BYTES:
        chunk = await response.content.read(_MAX_ANSWER_BYTES - len(answer))
        if not chunk:
            break
        answer += chunk
    return bytes(answer)


def _connection_problem(exc: BaseException) -> str:
    """A short, one-line account of a connection-level failure."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "the host name could not be resolved (DNS)"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"its TLS certificate was not accepted ({exc.certificate_error})"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection failed ({exc.os_error.strerror or exc.os_error})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the receiver closed the connection without answering"
    if isinstance(exc, ConnectionResetError | aiohttp.ClientOSError):
        return f"the connection broke ({exc})"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
