"""Receivers for the benchmark: they count deliveries and keep nothing else.

The demo receivers (``exchange demo-receivers``) keep documents for people to look at; a
benchmark needs only to know that every accepted message reached every endpoint, once or
more. These answer 200 to any POST on ``/bench-receivers/<endpoint>`` and remember per
endpoint the set of ``X-Exchange-Id``s seen (the hub's ids: a redelivery carries the same
one, so the set's size is the number of distinct messages delivered), how many requests came
and how many carried no id. The body is read (the hub must send all of it) and dropped. They
speak HTTP/1.1 through bench/rawhttp.py, which costs the shared cores less than aiohttp's server.

    python -m bench.receivers --port 8101

``GET /bench-receivers`` gives ``{endpoint: {received, distinct, without_id}}``;
``GET /bench-receivers/<endpoint>/ids`` the distinct ids, for the check after a run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field

import uvloop

from bench import rawhttp

PREFIX = "/bench-receivers"
JSON = "application/json"


@dataclass
class Counts:
    ids: set[str] = field(default_factory=set)
    received: int = 0
    without_id: int = 0


class Receivers:
    def __init__(self) -> None:
        self.endpoints: dict[str, Counts] = {}

    def handle(self, method: str, path: str, head: bytes, _: bytes) -> tuple[int, str, bytes]:
        if not path.startswith(PREFIX):
            return 404, "text/plain", b"not a bench receiver path"
        parts = path[len(PREFIX) :].strip("/").split("/")
        if method == "POST" and len(parts) == 1 and parts[0]:
            self._count(parts[0], rawhttp.header(head, b"x-exchange-id"))
            return 200, "text/plain", b"received"
        if method == "GET" and parts == [""]:
            return 200, JSON, json.dumps(self.summary()).encode()
        if method == "GET" and len(parts) == 2 and parts[1] == "ids":
            counts = self.endpoints.get(parts[0], Counts())
            return 200, JSON, json.dumps(sorted(counts.ids)).encode()
        return 405, "text/plain", b"POST /bench-receivers/<endpoint> or GET /bench-receivers"

    def _count(self, name: str, hub_id: str | None) -> None:
        counts = self.endpoints.setdefault(name, Counts())
        counts.received += 1
        if hub_id:
            counts.ids.add(hub_id)
        else:
            counts.without_id += 1

    def summary(self) -> dict[str, dict[str, int]]:
        return {
            name: {
                "received": counts.received,
                "distinct": len(counts.ids),
                "without_id": counts.without_id,
            }
            for name, counts in sorted(self.endpoints.items())
        }


async def serve(host: str, port: int) -> None:
    server = await rawhttp.serve(host, port, Receivers().handle)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"bench receivers on http://{host}:{port}{PREFIX}", flush=True)
    try:
        await stop.wait()
    finally:
        await rawhttp.close_server(server)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.receivers", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8101)
    args = parser.parse_args(argv)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
