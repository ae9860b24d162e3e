"""Receivers for the benchmark: they count deliveries and keep nothing else.

The demo receivers (``exchange demo-receivers``) keep documents for people to look at; a
benchmark needs only to know that every accepted message reached every endpoint, once or
more. These answer 200 to any POST on ``/bench-receivers/<endpoint>`` and remember per
endpoint the set of ``X-Exchange-Id``s seen (the hub's ids: a redelivery carries the same
one, so the set's size is the number of distinct messages delivered), how many requests came
and how many carried no id. The body is read (the hub must send all of it) and dropped.

    python -m bench.receivers --port 8101

``GET /bench-receivers`` gives ``{endpoint: {received, distinct, without_id}}``;
``GET /bench-receivers/<endpoint>/ids`` the distinct ids, for the check after a run.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field

import uvloop
from aiohttp import web

PREFIX = "/bench-receivers"


@dataclass
class Counts:
    ids: set[str] = field(default_factory=set)
    received: int = 0
    without_id: int = 0


class Receivers:
    def __init__(self) -> None:
        self.endpoints: dict[str, Counts] = {}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(PREFIX + "/{name}", self._receive)
        app.router.add_get(PREFIX + "/{name}/ids", self._ids)
        app.router.add_get(PREFIX, self._summary)
        return app

    async def _receive(self, request: web.Request) -> web.Response:
        await request.read()
        counts = self.endpoints.setdefault(request.match_info["name"], Counts())
        counts.received += 1
        hub_id = request.headers.get("X-Exchange-Id")
        if hub_id:
            counts.ids.add(hub_id)
        else:
            counts.without_id += 1
        return web.Response(text="received")

    async def _ids(self, request: web.Request) -> web.Response:
        counts = self.endpoints.get(request.match_info["name"], Counts())
        return web.json_response(sorted(counts.ids))

    async def _summary(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                name: {
                    "received": counts.received,
                    "distinct": len(counts.ids),
                    "without_id": counts.without_id,
                }
                for name, counts in sorted(self.endpoints.items())
            }
        )


async def serve(host: str, port: int) -> None:
    runner = web.AppRunner(Receivers().app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"bench receivers on http://{host}:{port}{PREFIX}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.receivers", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8101)
    args = parser.parse_args(argv)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
