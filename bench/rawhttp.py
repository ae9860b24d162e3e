"""Lean HTTP/1.1 for the benchmark's own side: the load generator's requests, the receivers.

The load generator and the receivers share the hub's cores, so every millisecond they spend
is one the hub does not get. aiohttp's client cost ~0.47 ms of CPU per request and its server
~0.2 ms per delivery on the 2-core machine; what the bench needs of HTTP is small (keep-alive
connections, requests with a Content-Length, answers with a Content-Length), so these speak it
directly on asyncio transports. They are still HTTP over TCP: the hub's server and its aiohttp
delivery client talk to them exactly as to any other peer.

Not supported, and refused when met (an error, or the connection closed): chunked bodies.
The client sends one request at a time on a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

_END = b"\r\n\r\n"
MAX_HEAD = 64 * 1024


class ProtocolFault(Exception):
    """The peer said something these lean parsers do not speak."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes


def _content_length(head: bytes) -> int:
    """The Content-Length of a message head (status or request line and headers)."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            return int(value)
        if name == b"transfer-encoding":
            raise ProtocolFault(f"transfer-encoding {value.strip()!r} is not supported")
    return 0


def header(head: bytes, wanted: bytes) -> str | None:
    """One header's value (the name given lower-case), or None."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == wanted:
            return value.strip().decode("latin-1")
    return None


def request_bytes(
    method: str, path: str, host: str, headers: Mapping[str, str], body: bytes
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _ClientConnection(asyncio.Protocol):
    def __init__(self) -> None:
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Answer] | None = None
        self._transport: asyncio.Transport | None = None
        self.closed = False
        self.answered_any = False  # since it was last taken from the pool: bytes came back

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self.answered_any = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        end = self._buffer.find(_END)
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                waiter.set_exception(ProtocolFault("answer head over 64 KiB"))
            return
        head = bytes(self._buffer[:end])
        try:
            length = _content_length(head)
            status = int(head[9:12])
        except (ValueError, ProtocolFault) as exc:
            waiter.set_exception(ProtocolFault(f"unreadable answer {head[:80]!r}: {exc}"))
            return
        start = end + 4
        if len(self._buffer) < start + length:
            return
        body = bytes(self._buffer[start : start + length])
        del self._buffer[: start + length]
        waiter.set_result(Answer(status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionError(f"connection closed by the peer ({exc})"))

    async def exchange(self, request: bytes) -> Answer:
        if self.closed or self._transport is None:
            raise ConnectionError("connection closed")
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        try:
            return await self._waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class Pool:
    """Keep-alive connections to one server; at most ``limit`` open, one request on each."""

    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host, self.port, self.limit = host, port, limit
        self._idle: list[_ClientConnection] = []
        self._open = 0
        self._freed = asyncio.Condition()

    async def _acquire(self, *, fresh: bool = False) -> tuple[_ClientConnection, bool]:
        """A connection, and whether it served requests before."""
        async with self._freed:
            while True:
                while self._idle and not fresh:
                    connection = self._idle.pop()
                    if not connection.closed:
                        connection.answered_any = False
                        return connection, True
                    self._open -= 1
                if fresh and self._open >= self.limit and self._idle:
                    self._idle.pop().close()  # make room for the new one
                    self._open -= 1
                if self._open < self.limit:
                    self._open += 1
                    break
                await self._freed.wait()
        try:
            loop = asyncio.get_running_loop()
            _, connection = await loop.create_connection(_ClientConnection, self.host, self.port)
        except BaseException:
            async with self._freed:
                self._open -= 1
                self._freed.notify()
            raise
        return connection, False

    async def _release(self, connection: _ClientConnection) -> None:
        async with self._freed:
            if connection.closed:
                self._open -= 1
            else:
                self._idle.append(connection)
            self._freed.notify()

    async def send(self, request: bytes) -> Answer:
        """One request (from :func:`request_bytes`) and its answer.

        A kept-alive connection the server has just closed (its idle time-out) fails
        before any answer; the request then goes once more on a new connection, as
        browsers and aiohttp do (the hub's submissions carry a message id: resending
        one is idempotent).
        """
        connection, reused = await self._acquire()
        try:
            return await self._exchange(connection, request)
        except ConnectionError:
            if not reused or connection.answered_any:
                raise
        connection, _ = await self._acquire(fresh=True)
        return await self._exchange(connection, request)

    async def _exchange(self, connection: _ClientConnection, request: bytes) -> Answer:
        try:
            return await connection.exchange(request)
        except BaseException:
            connection.close()  # in an unknown state: never reused
            connection.closed = True
            raise
        finally:
            await self._release(connection)

    async def close(self) -> None:
        async with self._freed:
            for connection in self._idle:
                connection.close()
            self._idle.clear()


# A server handler: (method, path, head, body) -> (status, content type, body).
Handler = Callable[[str, str, bytes, bytes], tuple[int, str, bytes]]
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error"}


class _ServerConnection(asyncio.Protocol):
    """Answers each complete request in the buffer at once, in order."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._transport is not None and self._answer_one(self._transport):
            pass

    def _answer_one(self, transport: asyncio.Transport) -> bool:
        end = self._buffer.find(_END)
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                transport.close()
            return False
        head = bytes(self._buffer[:end])
        try:
            length = _content_length(head)
            method, path, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        except (ValueError, ProtocolFault):
            transport.close()
            return False
        start = end + 4
        if len(self._buffer) < start + length:
            return False
        body = bytes(self._buffer[start : start + length])
        del self._buffer[: start + length]
        try:
            status, kind, answer = self._handler(method, path, head, body)
        except Exception as exc:
            status, kind, answer = 500, "text/plain", repr(exc).encode()
        transport.write(
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: {kind}\r\n"
            f"Content-Length: {len(answer)}\r\n\r\n".encode("latin-1")
            + answer
        )
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


async def serve(host: str, port: int, handler: Handler) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _ServerConnection(handler), host, port)


async def close_server(server: asyncio.Server) -> None:
    server.close()
    with contextlib.suppress(Exception):
        await server.wait_closed()
