"""``exchange serve``: the hub's HTTP server, and its stages here or in worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Collection

import uvicorn
from aiohttp import web
from fastapi import FastAPI
from starlette.types import ASGIApp

from exchange import demo, metrics
from exchange.console import overview
from exchange.diagnostics import dump_tasks_on_signal
from exchange.hub import Hub
from exchange.ingress.http_limits import BodyTimeout, make_room_for, protocol_class
from exchange.ingress.rest import SubmitFastPath, create_app
from exchange.ingress.soap import SoapFrontDoor
from exchange.processes import (
    LAYOUTS,
    STOP_WITH_PARENT,
    ServingLayout,
    WorkerProcess,
    serving_stages,
    stop_when_orphaned,
)
from exchange.reload import Watcher, WorkerReloads, write_report
from exchange.settings import Settings

log = logging.getLogger(__name__)


def build_app(settings: Settings, *, demo_port: int | None = None, processes: int = 1) -> ASGIApp:
    """The ASGI app; the hub starts and stops with it (and the demo receivers, if asked).

    With ``processes`` > 1 the stages run in child ``exchange worker`` processes
    (``exchange.processes.LAYOUTS``), started and stopped with the app (in its lifespan, so
    a SIGTERM stops them all cleanly); with 1 they run in this process.
    """
    # Before the hub's stages are made (they take the metrics when built) and before the
    # workers start: a fresh metrics folder, which they write into too.
    metrics.configure(settings, fresh=True)
    hub = Hub(settings)
    children = [WorkerProcess(stages) for stages in LAYOUTS[processes]]
    # This process decides reloads; its worker processes reload when it signals them.
    hub.reloader.attach_workers(lambda: children)
    watch = settings.watch if settings.watch is not None else demo_port is not None

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runner: web.AppRunner | None = None
        dump_tasks_on_signal()
        if demo_port is not None:
            runner = await demo.start_demo_receivers("127.0.0.1", demo_port)
        stop_children = asyncio.Event()
        supervised = [asyncio.create_task(child.run(stop_children)) for child in children]
        await hub.start(workers=serving_stages(processes))
        write_report(settings.resolved_data_dir, hub.rules)
        stop_watching = asyncio.Event()
        watching = (
            asyncio.create_task(Watcher(hub.reloader, settings.home).run(stop_watching))
            if watch
            else None
        )
        # The console's backlog over time: sampled by the front door, once a second.
        stop_sampling = asyncio.Event()
        sampling = asyncio.create_task(overview.sampler_for(hub).run(stop_sampling))
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
        if children:
            log.info(
                "front door in process %s; stages in worker processes: %s",
                os.getpid(),
                ", ".join(child.name for child in children),
            )
        try:
            yield
        finally:
            stop_sampling.set()
            stop_watching.set()
            await asyncio.gather(sampling, *filter(None, [watching]), return_exceptions=True)
            stop_children.set()
            await asyncio.gather(*supervised, return_exceptions=True)
            await hub.stop()
            if runner is not None:
                await runner.cleanup()

    app = create_app(hub)
    app.router.lifespan_context = lifespan
    # The console's health page reads where each stage runs and whether its process lives.
    app.state.serving_layout = ServingLayout.of(processes, children)
    # REST submissions first (the hot path), then /soap, then everything else (FastAPI);
    # every request body, whichever door reads it, within the body time-out.
    return BodyTimeout(
        SubmitFastPath(hub, SoapFrontDoor(hub, app)),
        idle=settings.body_timeout,
        min_rate=settings.body_min_rate,
    )


async def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    demo_port: int | None,
    processes: int = 1,
) -> None:
    """Serve until SIGINT/SIGTERM, in ``processes`` processes (see ``exchange.processes``)."""
    app = build_app(settings, demo_port=demo_port, processes=processes)
    make_room_for(settings.max_connections)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        # JSON lines: uvicorn's loggers go through the hub's handler, not uvicorn's own
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
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
    # A SIGHUP before the reload handler is installed must not end the process (its
    # default); install() then checks the files for a change it may have missed.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    metrics.configure(settings, fresh=False)  # adds to the folder the serving process made
    hub = Hub(settings)
    dump_tasks_on_signal()
    await hub.start(workers=workers)
    # SIGHUP from the serving process: reload the rules and report the version.
    WorkerReloads(hub.reloader, settings.resolved_data_dir).install(hub, settings.home)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("workers %s running", ", ".join(workers))
    parent = os.environ.get(STOP_WITH_PARENT)
    watchdog = asyncio.create_task(stop_when_orphaned(int(parent), stop)) if parent else None
    try:
        await stop.wait()
    finally:
        if watchdog is not None:
            watchdog.cancel()
        await hub.stop()
