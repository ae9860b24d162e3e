"""``exchange serve``: the hub's HTTP server and workers in one process."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import uvicorn
from aiohttp import web
from fastapi import FastAPI

from exchange import demo
from exchange.hub import Hub
from exchange.ingress.rest import create_app
from exchange.settings import Settings

log = logging.getLogger(__name__)


def build_app(settings: Settings, *, demo_port: int | None = None) -> FastAPI:
    """The ASGI app; the hub starts and stops with it (and the demo receivers, if asked)."""
    hub = Hub(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runner: web.AppRunner | None = None
        if demo_port is not None:
            runner = await demo.start_demo_receivers("127.0.0.1", demo_port)
        await hub.start()
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
        try:
            yield
        finally:
            await hub.stop()
            if runner is not None:
                await runner.cleanup()

    app = create_app(hub)
    app.router.lifespan_context = lifespan
    return app


async def serve(settings: Settings, *, host: str, port: int, demo_port: int | None) -> None:
    app = build_app(settings, demo_port=demo_port)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        http="httptools",
        timeout_graceful_shutdown=10,
    )
    await uvicorn.Server(config).serve()
