"""Forwarding throughput of httpx vs aiohttp, and the cost of the hub's RestEgress on top.

Delivery forwards every translated message to ~3 receivers, so the HTTP client's cost per
request decides whether 2,000 msg/s fits on two cores.  This script starts a fast sink (a raw
asyncio protocol answering ``200``) in a child process on 127.0.0.1, then forwards the same
POSTs with each client from this process and prints requests per second, client CPU per
request, and the ratios.

    .venv/bin/python bench/forward_clients.py [--requests 10000] [--concurrency 50]
                                              [--body-bytes 3072] [--budget 40] [--uvloop]

The fast clients run first; the last gets what is left of ``--budget`` seconds. A client that
cannot finish in its share is stopped and its partial rate reported, so the run stays bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import cast

_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
_WARMUP = 300


# --------------------------------------------------------------------------- the sink


class _SinkProtocol(asyncio.Protocol):
    """Answers every HTTP/1.1 request with 200, keeping the connection open.

    Parses only what both clients send (a header block and a Content-Length body), so the
    sink spends almost nothing per request and the client is what gets measured.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, hence the cast.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).lower()
            start = head.find(b"content-length:")
            length = 0
            if start >= 0:
                stop = head.find(b"\r\n", start)
                length = int(head[start + 15 : stop if stop >= 0 else len(head)])
            total = end + 4 + length
            if len(buffer) < total:
                return
            del buffer[:total]
            assert self._transport is not None
            self._transport.write(_RESPONSE)


async def _serve_sink() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_SinkProtocol, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    async with server:
        # The parent closes our stdin when it is done (or dies): stop then.
        await loop.run_in_executor(None, sys.stdin.read)


def _run_sink() -> None:
    try:
        import uvloop

        uvloop.run(_serve_sink())
    except ImportError:
        asyncio.run(_serve_sink())


@contextlib.contextmanager
def _sink_process() -> Iterator[int]:
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--sink"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError(f"the sink did not start (said {line!r}); run with --sink to see")
        yield int(line)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=3)


# --------------------------------------------------------------------------- the clients


@dataclass
class Result:
    name: str
    done: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_seconds / self.done * 1e6 if self.done else float("nan")


Send = Callable[[], Awaitable[None]]


async def _drive(name: str, send: Send, requests: int, concurrency: int, budget: float) -> Result:
    """Runs ``requests`` sends over ``concurrency`` tasks, stopping early at ``budget`` s."""
    await asyncio.gather(*(send() for _ in range(_WARMUP)))
    remaining = requests
    deadline = time.perf_counter() + budget
    done = 0

    async def worker() -> None:
        nonlocal remaining, done
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            await send()
            done += 1

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(name, done, time.perf_counter() - t0, time.process_time() - cpu0)


async def _httpx(url: str, body: bytes, args: argparse.Namespace, budget: float) -> Result:
    import httpx

    limits = httpx.Limits(
        max_connections=args.concurrency,
        max_keepalive_connections=args.concurrency,
        keepalive_expiry=30.0,
    )
    headers = {"Content-Type": "application/xml; charset=utf-8"}
    async with httpx.AsyncClient(limits=limits, timeout=10.0) as client:

        async def send() -> None:
            response = await client.post(url, content=body, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"sink answered {response.status_code}")

        return await _drive("httpx", send, args.requests, args.concurrency, budget)


async def _aiohttp(url: str, body: bytes, args: argparse.Namespace, budget: float) -> Result:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=args.concurrency, keepalive_timeout=30.0)
    headers = {"Content-Type": "application/xml; charset=utf-8"}
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send() -> None:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"sink answered {response.status}")

        return await _drive("aiohttp", send, args.requests, args.concurrency, budget)


async def _rest_egress(url: str, body: bytes, args: argparse.Namespace, budget: float) -> Result:
    from exchange.egress import Outbound, RestEgress
    from exchange.envelope import Envelope
    from exchange.routing.model import Endpoint

    os.environ.setdefault("BENCH_TOKEN", "secret")
    endpoint = Endpoint(
        name="bench-sink",
        url=url,
        format="bench",
        headers={"Authorization": "Bearer ${BENCH_TOKEN}"},
    )
    envelope = Envelope.new(sender="bench.sender", message_type="bench")
    outbound = Outbound(envelope=envelope, endpoint=endpoint, payload=body, attempt=1)
    egress = RestEgress(max_connections=args.concurrency)
    await egress.start()
    try:

        async def send() -> None:
            await egress.send(outbound)

        return await _drive("RestEgress", send, args.requests, args.concurrency, budget)
    finally:
        await egress.close()


async def _bench(port: int, args: argparse.Namespace) -> list[Result]:
    url = f"http://127.0.0.1:{port}/deliver"
    body = (b"<m>" + b"x" * args.body_bytes)[: args.body_bytes - 4] + b"</m>"
    # The fast clients first; the slow one gets whatever is left of the budget.
    runs = [_aiohttp, _rest_egress, _httpx]
    deadline = time.perf_counter() + args.budget
    results = []
    for index, run in enumerate(runs):
        share = (deadline - time.perf_counter()) / (len(runs) - index)
        if index == len(runs) - 1:
            share = deadline - time.perf_counter()
        results.append(await run(url, body, args, max(share, 1.0)))
    return results


def _report(results: list[Result], args: argparse.Namespace) -> None:
    loop = "uvloop" if args.uvloop else "asyncio"
    print(
        f"{args.requests} POSTs of {args.body_bytes} B, {args.concurrency} concurrent tasks, "
        f"client loop {loop}, sink in its own process on 127.0.0.1"
    )
    print(f"{'client':<12}{'done':>8}{'seconds':>10}{'req/s':>10}{'CPU µs/req':>12}")
    for r in results:
        print(
            f"{r.name:<12}{r.done:>8}{r.seconds:>10.2f}{r.rate:>10.0f}{r.cpu_us_per_request:>12.0f}"
        )
    by_name = {r.name: r for r in results}
    httpx_r, aiohttp_r, egress_r = by_name["httpx"], by_name["aiohttp"], by_name["RestEgress"]
    if httpx_r.rate:
        print(f"aiohttp / httpx throughput ratio: {aiohttp_r.rate / httpx_r.rate:.2f}x")
    overhead = egress_r.cpu_us_per_request - aiohttp_r.cpu_us_per_request
    print(
        f"RestEgress over raw aiohttp: {overhead:+.0f} µs CPU per send "
        f"({egress_r.rate / aiohttp_r.rate:.0%} of the raw rate)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--body-bytes", type=int, default=3072)
    parser.add_argument("--budget", type=float, default=40.0, help="seconds for all clients")
    parser.add_argument("--uvloop", action="store_true", help="run the clients on uvloop")
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        _run_sink()
        return
    with _sink_process() as port:
        if args.uvloop:
            import uvloop

            results = uvloop.run(_bench(port, args))
        else:
            results = asyncio.run(_bench(port, args))
    _report(results, args)


if __name__ == "__main__":
    main()
