"""DEMO RECEIVERS: stand-ins for departments' systems, for the demo and benchmarks only.

``exchange serve --demo`` runs them beside the hub (on port 8001) so that a
message sent to the hub ends in visible deliveries.  Each receiver accepts any
XML POSTed to /demo-receivers/<name>, remembers the last documents and counts
distinct message ids (a real receiver deduplicates by X-Exchange-Message-Id
the same way).  They are not part of the hub.
"""

from __future__ import annotations

import functools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

PREFIX = "/demo-receivers"
DEMO_SENDER = "samr-reg"
DEMO_SENDER_KEY = "demo-key-samr-reg"
DEMO_OPERATOR = "demo-operator"
DEMO_OPERATOR_KEY = "demo-key-operator"


@dataclass
class Inbox:
    documents: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=20))
    ids: set[str] = field(default_factory=set)
    received: int = 0


# Chinese names read as themselves in the inbox, not as \u escapes.
_json = functools.partial(
    web.json_response, dumps=functools.partial(json.dumps, ensure_ascii=False)
)


class DemoReceivers:
    def __init__(self) -> None:
        self.inboxes: dict[str, Inbox] = {}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(PREFIX + "/{name}", self._receive)
        app.router.add_get(PREFIX + "/{name}/inbox", self._inbox)
        app.router.add_get(PREFIX, self._summary)
        return app

    async def _receive(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.read()
        hub_id = request.headers.get("X-Exchange-Id", "")
        inbox = self.inboxes.setdefault(name, Inbox())
        inbox.received += 1
        duplicate = hub_id in inbox.ids
        inbox.ids.add(hub_id)
        inbox.documents.append(
            {
                "id": hub_id,
                "message_id": request.headers.get("X-Exchange-Message-Id"),
                "attempt": request.headers.get("X-Exchange-Attempt"),
                "received_at": time.time(),
                "document": body.decode("utf-8", "replace"),
            }
        )
        return _json({"receiver": name, "id": hub_id, "duplicate": duplicate})

    async def _inbox(self, request: web.Request) -> web.Response:
        inbox = self.inboxes.get(request.match_info["name"], Inbox())
        return _json(
            {
                "received": inbox.received,
                "distinct": len(inbox.ids),
                "last": list(reversed(inbox.documents)),
            }
        )

    async def _summary(self, _: web.Request) -> web.Response:
        return _json(
            {
                name: {"received": inbox.received, "distinct": len(inbox.ids)}
                for name, inbox in sorted(self.inboxes.items())
            }
        )


async def start_demo_receivers(host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(DemoReceivers().app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
