"""``exchange serve``: the hub's HTTP server and workers in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Collection

import uvicorn
from aiohttp import web
from fastapi import FastAPI
from starlette.types import ASGIApp

from exchange import demo
from exchange.diagnostics import dump_tasks_on_signal
from exchange.hub import WORKERS, Hub
from exchange.ingress.http_limits import BodyTimeout, make_room_for, protocol_class
from exchange.ingress.rest import SubmitFastPath, create_app
from exchange.ingress.soap import SoapFrontDoor
from exchange.settings import Settings

log = logging.getLogger(__name__)

# Set for a worker process that `serve --workers-process` started: the parent's pid.
STOP_WITH_PARENT = "EXCHANGE_STOP_WITH_PARENT"


def build_app(
    settings: Settings, *, demo_port: int | None = None, workers_process: bool = False
) -> ASGIApp:
    """The ASGI app; the hub starts and stops with it (and the demo receivers, if asked).

    With ``workers_process`` the stages run in a child ``exchange worker`` process,
    started and stopped with the app (in its lifespan, so a SIGTERM stops both cleanly).
    """
    hub = Hub(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runner: web.AppRunner | None = None
        dump_tasks_on_signal()
        if demo_port is not None:
            runner = await demo.start_demo_receivers("127.0.0.1", demo_port)
        child = await _start_workers_process() if workers_process else None
        await hub.start(workers=() if workers_process else WORKERS)
        if demo_port is not None:
            await hub.store.keys.create(demo.DEMO_SENDER, key=demo.DEMO_SENDER_KEY)
            await hub.store.keys.create(
                demo.DEMO_OPERATOR, role="operator", key=demo.DEMO_OPERATOR_KEY
            )
            log.info(
                "DEMO: receivers on http://127.0.0.1:%s%s; sender %s key %s; operator key %s",
                demo_port,
                demo.PREFIX,
                demo.DEMO_SENDER,
                demo.DEMO_SENDER_KEY,
                demo.DEMO_OPERATOR_KEY,
            )
        else:
            # The demo's keys are public (they are in the README): a data folder that once
            # ran the demo must not keep accepting them.
            removed = await hub.store.keys.delete_keys(demo.DEMO_KEYS)
            if removed:
                log.warning("removed %s demo key(s): they are valid only with --demo", removed)
        try:
            yield
        finally:
            if child is not None:
                await _stop_process(child)
            await hub.stop()
            if runner is not None:
                await runner.cleanup()

    app = create_app(hub)
    app.router.lifespan_context = lifespan
    # REST submissions first (the hot path), then /soap, then everything else (FastAPI);
    # every request body, whichever door reads it, within the body time-out.
    return BodyTimeout(
        SubmitFastPath(hub, SoapFrontDoor(hub, app)),
        idle=settings.body_timeout,
        min_rate=settings.body_min_rate,
    )


async def _start_workers_process() -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "exchange",
        "worker",
        env={**os.environ, STOP_WITH_PARENT: str(os.getpid())},
    )


async def _stop_process(child: asyncio.subprocess.Process) -> None:
    if child.returncode is not None:
        return
    child.terminate()
    try:
        await asyncio.wait_for(child.wait(), timeout=20)
    except TimeoutError:
        child.kill()
        await child.wait()


async def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    demo_port: int | None,
    workers_process: bool = False,
) -> None:
    """Serve until SIGINT/SIGTERM; with ``workers_process`` the stages behind the front door
    run in a child process (``exchange worker``), so the two share the machine's cores."""
    app = build_app(settings, demo_port=demo_port, workers_process=workers_process)
    make_room_for(settings.max_connections)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        # httptools with a header deadline and the connection cap (uvicorn's own
        # limit_concurrency would count slow clients too and answer in plain text).
        http=protocol_class(
            header_timeout=settings.header_timeout, max_connections=settings.max_connections
        ),
        ws="none",  # no WebSocket routes; an upgraded connection would leave the cap's count
        timeout_keep_alive=settings.keepalive_timeout,
        timeout_graceful_shutdown=10,
    )
    await uvicorn.Server(config).serve()


async def run_workers(settings: Settings, workers: Collection[str]) -> None:
    """``exchange worker``: stages without a front door, until SIGINT/SIGTERM."""
    hub = Hub(settings)
    dump_tasks_on_signal()
    await hub.start(workers=workers)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("workers %s running", ", ".join(workers))
    parent = os.environ.get(STOP_WITH_PARENT)
    watchdog = asyncio.create_task(_stop_when_orphaned(int(parent), stop)) if parent else None
    try:
        await stop.wait()
    finally:
        if watchdog is not None:
            watchdog.cancel()
        await hub.stop()


async def _stop_when_orphaned(parent: int, stop: asyncio.Event) -> None:
    # A parent killed with SIGKILL cannot stop its child: notice and stop cleanly.
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
    log.warning("the serving process %s is gone; stopping the workers", parent)
    stop.set()
