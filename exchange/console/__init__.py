"""The operator console: its pages and their JSON API, served by the hub under /console.

Each part of the console is a module with ``router(hub) -> APIRouter``; ``mount`` includes
them all into the hub's FastAPI app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from exchange.hub import Hub


def mount(app: FastAPI, hub: Hub) -> None:
    from exchange.console import dead_letters, insight, messages, overview, shell

    app.state.hub = hub
    for part in (shell, messages, dead_letters, overview, insight):
        app.include_router(part.router(hub))
