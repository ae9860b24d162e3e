"""``GET /readyz``: can this hub take and carry messages now?  (``/healthz`` says it lives.)

Ready means both of what a message needs are reachable: the backbone (where a submission
becomes durable) and the store (keys, idempotency, traces).  Each is asked something small
and real, with a time limit, so a probe never hangs on a broker or a database that is away.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from exchange.hub import Hub

PROBE_SECONDS = 3.0


async def _backbone(hub: Hub) -> None:
    await hub.backbone.probe()


async def _store(hub: Hub) -> None:
    path = _sqlite_path(hub.settings.resolved_database_url)
    if path is not None:
        # An open connection goes on working on a deleted file; what it writes is lost.
        if not path.is_file():
            raise RuntimeError(f"the store's file {path} is gone; restore it or restart the hub")
        if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
            raise RuntimeError(f"{path} or its folder is not writable; make both writable")
    async with hub.store.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    database = parsed.database
    if not parsed.drivername.startswith("sqlite") or not database or database == ":memory:":
        return None
    return None if database.startswith("file:") else Path(database)


async def _check(name: str, probe: Coroutine[Any, Any, None]) -> str | None:
    """None when ready, else what is wrong and what to do, in one line."""
    try:
        await asyncio.wait_for(probe, PROBE_SECONDS)
    except TimeoutError:
        return f"the {name} did not answer within {PROBE_SECONDS:g} s; check that it is up"
    except Exception as exc:  # whatever the driver raises is the reason not to be ready
        return str(exc).splitlines()[0] if str(exc) else repr(exc)
    return None


async def readiness(hub: Hub) -> tuple[bool, dict[str, object]]:
    """(ready, the answer's body): each part ``"ok"`` or what is wrong with it."""
    backbone, store = await asyncio.gather(
        _check("backbone", _backbone(hub)), _check("store", _store(hub))
    )
    problems = {"backbone": backbone, "store": store}
    ready = all(problem is None for problem in problems.values())
    body: dict[str, object] = {"status": "ready" if ready else "not ready"}
    body.update({name: problem or "ok" for name, problem in problems.items()})
    return ready, body
