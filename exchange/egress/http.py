"""What the HTTP-based egresses (REST, SOAP) share: the pooled client, one request, errors.

``HttpEgress`` is their common base: one ``HttpClient`` for every endpoint of its kind, the
``${VAR}`` environment, and the headers every receiver gets whatever the protocol.

``HttpClient`` owns one pooled aiohttp session (aiohttp rather than httpx because delivery
is the hub's hottest outbound path: ``bench/forward_clients.py`` measured aiohttp an order
of magnitude faster than an httpx AsyncClient at 50 concurrent forwards).  ``request``
sends once and returns the ``Answer`` whatever its status; transport failures (refused,
reset, DNS, TLS, timeout) become ``EndpointUnavailable`` here, so each egress only decides
what an answer means.  ``expand_headers`` and ``expand_variables`` put ``${VAR}`` values
from the environment into what an endpoint configures.
"""

from __future__ import annotations

import email.utils
import os
import re
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypedDict, Unpack
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from exchange.egress.base import Egress, EndpointMisconfigured, EndpointUnavailable, Outbound
from exchange.envelope import HEADER_PREFIX
from exchange.errors import ConfigError
from exchange.routing.model import Endpoint

USER_AGENT = "exchange-hub"
ATTEMPT_HEADER = "X-Exchange-Attempt"
RETRIABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

_EXCERPT_CHARS = 200
# Enough of an answer for the trace; a bigger one is cut and its connection not reused.
DEFAULT_MAX_ANSWER_BYTES = 64 * 1024
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_headers(endpoint: Endpoint, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The endpoint's configured headers with each ``${VAR}`` replaced from ``environ``.

    Read at every send, so a rotated secret is picked up without a restart.
    """
    headers: dict[str, str] = {}
    for name, value in endpoint.headers.items():
        if name.lower().startswith(HEADER_PREFIX):
            raise ConfigError(
                f"endpoint {endpoint.name!r}: header {name!r} would overwrite the hub's "
                f"envelope headers ({HEADER_PREFIX}*); rename or remove it"
            )
        value = expand_variables(endpoint, f"header {name!r}", value, environ)
        if "\r" in value or "\n" in value:
            raise ConfigError(
                f"endpoint {endpoint.name!r}: header {name!r} holds a line break; "
                "remove it from the value (or from the environment variable it uses)"
            )
        headers[name] = value
    return headers


def expand_variables(
    endpoint: Endpoint, what: str, value: str, environ: Mapping[str, str] | None = None
) -> str:
    """``value`` with each ``${VAR}`` replaced from ``environ`` (default ``os.environ``);
    ``what`` names the setting in the error when a variable is not set."""
    if "${" not in value:
        return value
    env = os.environ if environ is None else environ

    def variable(match: re.Match[str]) -> str:
        try:
            return env[match.group(1)]
        except KeyError:
            raise EndpointMisconfigured(
                f"endpoint {endpoint.name!r}: {what} needs environment variable "
                f"{match.group(1)}, which is not set; set it in the hub's environment and "
                "restart, or change the endpoint",
                endpoint=endpoint.name,
            ) from None

    return _VARIABLE.sub(variable, value)


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


def shown_url(url: str) -> str:
    """The URL without any user:password part, fit for errors and traces."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def excerpt(body: bytes, charset: str | None) -> str:
    """The start of an answer on one line (errors and traces stay one line per event)."""
    try:
        text = body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        text = body.decode("utf-8", errors="replace")
    return " ".join(text.split())[:_EXCERPT_CHARS]


def advice(status: int, location: str | None) -> str:
    """What to do about a non-retriable HTTP status."""
    if 300 <= status < 400:
        where = f" to {location}" if location else ""
        return f"the endpoint redirects{where}; set the endpoint's address to the final one"
    if status in (401, 403):
        return "check the endpoint's credentials with the receiver"
    if status in (404, 405):
        return "check the endpoint's address and method with the receiver"
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


@dataclass(frozen=True, slots=True)
class Answer:
    """A complete HTTP answer (its body cut at the request's ``max_bytes``)."""

    status: int
    reason: str
    body: bytes
    charset: str | None
    content_type: str
    retry_after: str | None
    location: str | None
    elapsed: float  # seconds from sending to the complete answer

    @property
    def said(self) -> str:
        """``200 OK: "<excerpt>"``, for receipts and errors."""
        text = excerpt(self.body, self.charset)
        return f"{self.status} {self.reason}".rstrip() + (f': "{text}"' if text else "")


class HttpClient:
    """One pooled aiohttp session for every endpoint an egress serves."""

    def __init__(
        self,
        *,
        max_connections: int = 100,
        max_connections_per_endpoint: int = 0,
        keepalive: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``max_connections`` bounds open connections in all, ``max_connections_per_endpoint``
        per host and port (0: no bound of its own); ``ssl_context`` for receivers whose
        certificates come from a private authority."""
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

    async def request(
        self,
        endpoint: Endpoint,
        method: str,
        url: str,
        *,
        data: bytes,
        headers: Mapping[str, str],
        max_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
    ) -> Answer:
        """Send once and return the answer, whatever its status; raise EndpointUnavailable
        when no answer came (refused, reset, DNS, TLS, the endpoint's timeout)."""
        session = self._session
        if session is None:
            raise RuntimeError("egress used before start(); await egress.start() first")
        where = f"endpoint {endpoint.name!r} ({method} {shown_url(url)})"
        started = time.perf_counter()
        try:
            async with session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=self._timeout(endpoint.timeout),
                # A POST redirected is re-sent as GET by HTTP clients: refuse instead.
                allow_redirects=False,
            ) as response:
                body = await _read_answer(response, max_bytes)
                return Answer(
                    status=response.status,
                    reason=response.reason or "",
                    body=body,
                    charset=response.charset,
                    content_type=response.content_type,
                    retry_after=response.headers.get("Retry-After"),
                    location=response.headers.get("Location"),
                    elapsed=time.perf_counter() - started,
                )
        except TimeoutError as exc:
            raise EndpointUnavailable(
                f"{where} did not answer within its timeout of {endpoint.timeout:g} s; "
                "retriable; if the receiver is just slow, raise the endpoint's timeout",
                endpoint=endpoint.name,
                url=url,
            ) from exc
        except aiohttp.InvalidURL as exc:
            raise EndpointMisconfigured(
                f"endpoint {endpoint.name!r}: {shown_url(url)} is not a valid URL; "
                "correct it in the endpoint file",
                endpoint=endpoint.name,
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise EndpointUnavailable(
                f"could not deliver to {where}: {_connection_problem(exc)}; retriable; "
                "check that the receiver is running and reachable from the hub",
                endpoint=endpoint.name,
                url=url,
            ) from exc

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return timeout


async def _read_answer(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    length = response.content_length
    if length is not None and length <= max_bytes:
        return await response.read()  # read to the end: the connection goes back to the pool
    answer = bytearray()
    while len(answer) < max_bytes:
        chunk = await response.content.read(max_bytes - len(answer))
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


class HttpOptions(TypedDict, total=False):
    """How an HTTP egress connects (see ``HttpEgress``)."""

    max_connections: int
    max_connections_per_endpoint: int
    keepalive: float
    ssl_context: ssl.SSLContext | None
    environ: Mapping[str, str] | None


class HttpEgress(Egress):
    """An egress that speaks HTTP: what it shares with the others, apart from its protocol."""

    def __init__(self, **options: Unpack[HttpOptions]) -> None:
        """``max_connections`` (100) bounds open connections in all,
        ``max_connections_per_endpoint`` (0: no bound of its own) per host and port;
        ``keepalive`` (30 s) for idle connections; ``ssl_context`` for receivers whose
        certificates come from a private authority; ``environ`` replaces ``os.environ``."""
        self._http = HttpClient(
            max_connections=options.get("max_connections", 100),
            max_connections_per_endpoint=options.get("max_connections_per_endpoint", 0),
            keepalive=options.get("keepalive", 30.0),
            ssl_context=options.get("ssl_context"),
        )
        self._environ = options.get("environ")

    async def start(self) -> None:
        await self._http.start()

    async def close(self) -> None:
        await self._http.close()

    def exchange_headers(self, outbound: Outbound) -> dict[str, str]:
        """The endpoint's configured headers, every envelope field as an ``X-Exchange-*``
        header (receivers deduplicate on ``X-Exchange-Id``) and the attempt number."""
        headers = expand_headers(outbound.endpoint, self._environ)
        headers.update(outbound.envelope.to_headers())
        headers[ATTEMPT_HEADER] = str(outbound.attempt)
        return headers

    def wrong_kind(self, endpoint: Endpoint) -> EndpointMisconfigured:
        return EndpointMisconfigured(
            f"endpoint {endpoint.name!r} is of kind {endpoint.kind!r}, not {self.kind!r}; "
            "hand it to the egress of its kind",
            endpoint=endpoint.name,
        )
