"""How long and how many: the HTTP server's read limits, in front of every front door.

uvicorn with httptools closes idle keep-alive connections (``timeout_keep_alive``) but
waits without end for a request's headers and body, and its ``limit_concurrency`` counts
every open connection (slow ones too) and answers in plain text. So here:

- ``protocol_class``: uvicorn's httptools protocol with a deadline for request headers
  (late: 408 and closed; nothing sent at all: closed), a size limit for them (431) and a
  cap on open connections (over it a request gets 503 and its connection is closed).
- ``BodyTimeout``: ASGI middleware that gives each request body a deadline (no bytes for
  ``idle`` seconds, or under ``min_rate`` bytes/s on average once ``idle`` seconds have
  passed): the sender gets 408, the connection is closed, and the app sees the client gone,
  so nothing is accepted.

Every refusal is ``application/problem+json`` like the REST front door's.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import Any, ClassVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn._types import ASGIReceiveCallable, ASGISendCallable
from uvicorn._types import Scope as UvicornScope
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from exchange.ingress.problems import problem

log = logging.getLogger(__name__)

# Request line and headers together; httptools sets no limit of its own.
MAX_HEADER_BYTES = 64 * 1024
# A connection over the cap waits no longer than this for its headers: a real client sends
# them right after connecting, and each waiting connection holds a file descriptor.
OVER_CAP_GRACE = 1.0
# Files the hub needs besides its client connections: store, backbone, deliveries, logs.
FILES_FOR_THE_REST = 256
WARN_EVERY = 10.0  # seconds between warnings that the cap is turning connections away
# Set in a request's scope by a response that streams until the client leaves (the
# console's live events): a stopping server closes its connection at once instead of
# waiting out its graceful time-out for a response that never ends.
ENDS_AT_SHUTDOWN = "exchange.ends_at_shutdown"


BUSY = (
    "Too many connections",
    "the hub has as many connections open as EXCHANGE_MAX_CONNECTIONS allows; "
    "try again in a second, and reuse one connection for many requests",
)


def _raw_answer(status: int, title: str, detail: str, defaults: list[tuple[bytes, bytes]]) -> bytes:
    """A whole HTTP response with a problem+json body, for answers written to the socket."""
    response = problem(status, title, detail)
    lines = [STATUS_LINE[status]]
    for name, value in [*defaults, *response.raw_headers, (b"connection", b"close")]:
        lines += [name, b": ", value, b"\r\n"]
    return b"".join([*lines, b"\r\n", bytes(response.body)])


async def _over_capacity(
    scope: UvicornScope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    # The body is not read: a refused request should not cost the hub its upload.
    response = problem(503, *BUSY)
    headers = [*response.raw_headers, (b"connection", b"close"), (b"retry-after", b"1")]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": bytes(response.body), "more_body": False})


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """One client connection, with a header deadline, a header size limit and the cap.

    ``protocol_class`` makes the subclass that carries the numbers and the set of
    connections admitted under the cap (one per server).
    """

    header_timeout: ClassVar[float]
    max_connections: ClassVar[int]
    admitted: ClassVar[set[LimitedHttpToolsProtocol]]
    refused_since_warning: ClassVar[int] = 0
    last_warning: ClassVar[float] = 0.0

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._header_timer: asyncio.TimerHandle | None = None
        self._awaiting_headers = True
        self._header_bytes = 0
        self._request_begun = False
        self._over_cap = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        deadline = self.header_timeout
        if len(self.admitted) < self.max_connections:
            self.admitted.add(self)
        else:
            # Answered 503 as soon as its headers are in; the ones already admitted go on.
            self._over_cap = True
            self.app = _over_capacity
            deadline = min(deadline, OVER_CAP_GRACE)
            self._warn_refused()
        self._arm_header_timer(deadline)

    def shutdown(self) -> None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and cycle.scope.get(ENDS_AT_SHUTDOWN):
            self.transport.close()  # the app sees the client gone; the browser reconnects
            return
        super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        self.admitted.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers:
            # Counted before the parser sees the bytes: headers that end inside this chunk
            # count up to their end, so a large set arriving in one read is caught too.
            end = data.find(b"\r\n\r\n")
            self._header_bytes += len(data) if end < 0 else end + 4
            if self._header_bytes > MAX_HEADER_BYTES:
                self._refuse(
                    431,
                    "Request headers too large",
                    f"the request line and headers are over {MAX_HEADER_BYTES} bytes; "
                    "send fewer or shorter headers",
                )
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_begun = True
        if self._header_timer is None:  # the next request on a kept-alive connection
            self._arm_header_timer(self.header_timeout)

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        self._awaiting_headers = False
        self._request_begun = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._awaiting_headers = True
        self._header_bytes = 0

    def _arm_header_timer(self, seconds: float) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(seconds, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self._request_begun:  # connected and sent nothing: nobody to answer
            self.transport.close()
        elif self._over_cap:
            self._refuse(503, *BUSY)
        else:
            self._refuse(
                408,
                "Request timeout",
                f"the request headers did not arrive within {self.header_timeout:g} s "
                "(EXCHANGE_HEADER_TIMEOUT); send the whole request at once",
            )

    def _refuse(self, status: int, title: str, detail: str) -> None:
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # An earlier request's answer is still going out: finish it, then close;
            # read no more of the next request meanwhile.
            self.cycle.keep_alive = False
            self.flow.pause_reading()
            return
        defaults = self.server_state.default_headers
        self.transport.write(_raw_answer(status, title, detail, defaults))
        self.transport.close()

    def _warn_refused(self) -> None:
        cls = type(self)
        cls.refused_since_warning += 1
        now = time.monotonic()
        if now - cls.last_warning >= WARN_EVERY:
            log.warning(
                "%d connections open, the most EXCHANGE_MAX_CONNECTIONS allows: new ones get "
                "503 (%d since the last warning); raise it if this is normal load",
                len(self.admitted),
                cls.refused_since_warning,
            )
            cls.last_warning = now
            cls.refused_since_warning = 0


def protocol_class(*, header_timeout: float, max_connections: int) -> type[HttpToolsProtocol]:
    """The class to pass to uvicorn as ``http=``, with these limits and its own count."""

    class Protocol(LimitedHttpToolsProtocol):
        pass

    Protocol.header_timeout = header_timeout
    Protocol.max_connections = max_connections
    Protocol.admitted = set()
    return Protocol


def make_room_for(max_connections: int) -> None:
    """Raise the open-file limit so ``max_connections`` clients fit beside the hub's files.

    Past the limit every accept, store write and delivery fails alike, so the cap must
    come first; a hard limit that is too low is only warned about.
    """
    needed = max_connections + FILES_FOR_THE_REST
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (OSError, ValueError) as exc:
            log.warning("could not raise the open-file limit to %d: %s", target, exc)
    if soft < needed:
        log.warning(
            "EXCHANGE_MAX_CONNECTIONS=%d needs about %d open files but the limit is %d; "
            "raise it (ulimit -n) or lower EXCHANGE_MAX_CONNECTIONS",
            max_connections,
            needed,
            soft,
        )


class BodyTimeout:
    """ASGI middleware: a request body that stops coming gets 408 and its connection closes.

    Each ``receive`` until the body is complete waits at most ``idle`` seconds, and the
    whole body must arrive by ``idle + received / min_rate`` seconds from the start, so a
    trickle cannot hold a connection either. What the app sees then is a disconnect.
    """

    def __init__(self, app: ASGIApp, *, idle: float, min_rate: int) -> None:
        self._app = app
        self._idle = idle
        self._min_rate = min_rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        reader = _BodyReader(scope, receive, send, self._idle, self._min_rate)
        try:
            await self._app(scope, reader.receive, reader.send)
        except Exception:
            if not reader.timed_out:
                raise
            # The app gave up on a client it was told had gone; the 408 is already out.
            log.debug("app raised after its request body timed out", exc_info=True)


class _BodyReader:
    """The ``receive`` and ``send`` one request's app gets through ``BodyTimeout``."""

    def __init__(
        self, scope: Scope, receive: Receive, send: Send, idle: float, min_rate: int
    ) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        self._idle = idle
        self._min_rate = min_rate
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time()
        self._received = 0
        self._complete = False
        self._response_started = False
        self.timed_out = False

    async def receive(self) -> Message:
        if self.timed_out:
            return {"type": "http.disconnect"}
        if self._complete:  # after the body: waiting for a disconnect must not time out
            return await self._receive()
        now = self._loop.time()
        deadline = min(now + self._idle, self._start + self._idle + self._received / self._min_rate)
        try:
            async with asyncio.timeout_at(deadline):
                message = await self._receive()
        except TimeoutError:
            await self._time_out()
            return {"type": "http.disconnect"}
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            self._complete = not message.get("more_body", False)
        else:
            self._complete = True
        return message

    async def send(self, message: Message) -> None:
        if self.timed_out:
            return  # answered already (or the answer is cut short): the connection closes
        if message["type"] == "http.response.start":
            self._response_started = True
        await self._send(message)

    async def _time_out(self) -> None:
        self.timed_out = True
        client = self._scope.get("client")
        log.info(
            "request body from %s stopped coming, or came too slowly, after %d bytes; answered 408",
            f"{client[0]}:{client[1]}" if client else "?",
            self._received,
        )
        if self._response_started:
            return  # too late for a status: uvicorn closes the unfinished response
        response = problem(
            408,
            "Request timeout",
            f"the request body stopped coming (nothing for {self._idle:g} s, "
            "EXCHANGE_BODY_TIMEOUT, or under EXCHANGE_BODY_MIN_RATE "
            f"{self._min_rate} bytes/s); nothing was accepted: send the whole body "
            "without pauses and try again",
        )
        response.headers["connection"] = "close"
        await response(self._scope, self._receive, self._send)
