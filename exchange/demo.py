"""DEMO RECEIVERS: stand-ins for departments' systems, for the demo and benchmarks only.

``exchange serve --demo`` runs them beside the hub (on port 8001) so that a
message sent to the hub ends in visible deliveries.  Each REST receiver accepts any
XML POSTed to /demo-receivers/<name>, remembers the last documents and counts
distinct message ids (a real receiver deduplicates by X-Exchange-Message-Id
the same way).  The tax bureau is a SOAP service (``exchange.demo_soap``) at
/demo-receivers/tax-bureau-soap; the documents it receives (its SOAP body element)
land in the ``tax-bureau`` inbox like the others.  They are not part of the hub.

To show a dead letter and its replay, the legal-entity registry starts out *refusing*: it
answers 400 to a document whose message id starts with ``refuse-`` (any other goes through
as usual), which the hub dead-letters at once.  ``POST /demo-receivers/<name>/fix`` makes
a receiver accept those too (a replay then delivers them), ``POST .../refuse`` makes it
refuse them again; ``GET .../inbox`` says which mode it is in.
"""

from __future__ import annotations

import copy
import functools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from lxml import etree

from exchange import demo_soap, xml
from exchange.errors import RejectedMessage

PREFIX = "/demo-receivers"
# The SOAP receiver records into the department's inbox, so /tax-bureau/inbox shows it.
SOAP_INBOX = "tax-bureau"
DEMO_SENDER = "samr-reg"
DEMO_SENDER_KEY = "demo-key-samr-reg"
DEMO_OPERATOR = "demo-operator"
DEMO_OPERATOR_KEY = "demo-key-operator"
DEMO_KEYS = (DEMO_SENDER_KEY, DEMO_OPERATOR_KEY)
# Message ids a refusing receiver refuses, and the receivers that start out refusing.
REFUSED_PREFIX = "refuse-"
REFUSING = frozenset({"legal-entity-registry"})


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
    def __init__(self, soap_address: str | None = None) -> None:
        """``soap_address``: the URL the SOAP receiver's WSDL names (None: as requested)."""
        self.inboxes: dict[str, Inbox] = {}
        self.refusing: set[str] = set(REFUSING)
        self._soap = demo_soap.WsgiBridge(demo_soap.application(soap_address), demo_soap.PATH)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        # Before the catch-all /{name}: the SOAP receiver answers POST and GET ?wsdl.
        app.router.add_route("*", demo_soap.PATH, self._receive_soap)
        app.router.add_post(PREFIX + "/{name}", self._receive)
        app.router.add_post(PREFIX + "/{name}/fix", self._fix)
        app.router.add_post(PREFIX + "/{name}/refuse", self._refuse)
        app.router.add_get(PREFIX + "/{name}/inbox", self._inbox)
        app.router.add_get(PREFIX, self._summary)
        app.on_cleanup.append(self._close)
        return app

    async def _close(self, _: web.Application) -> None:
        self._soap.close()

    async def _receive(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.read()
        message_id = request.headers.get("X-Exchange-Message-Id", "")
        if name in self.refusing and message_id.startswith(REFUSED_PREFIX):
            # A client error: the hub does not retry it, it dead-letters it at once.  Plain
            # text, short: the hub quotes it in the dead letter's reason.
            return web.Response(
                status=400,
                text=f"demo receiver refuses {message_id}: ids starting with "
                f"{REFUSED_PREFIX!r} until POST {PREFIX}/{name}/fix",
            )
        duplicate = self._record(name, request, body.decode("utf-8", "replace"))
        hub_id = request.headers.get("X-Exchange-Id", "")
        return _json({"receiver": name, "id": hub_id, "duplicate": duplicate})

    async def _receive_soap(self, request: web.Request) -> web.StreamResponse:
        response = await self._soap(request)
        if request.method == "POST" and response.status == 200:
            document = _soap_body_element(await request.read())
            self._record(SOAP_INBOX, request, document, protocol="soap")
        return response

    def _record(
        self, name: str, request: web.Request, document: str, protocol: str = "rest"
    ) -> bool:
        """Keep ``document`` in the inbox of ``name``; True if its hub id came before."""
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
                "protocol": protocol,
                "document": document,
            }
        )
        return duplicate

    async def _fix(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.refusing.discard(name)
        return _json({"receiver": name, "refusing": False})

    async def _refuse(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.refusing.add(name)
        return _json({"receiver": name, "refusing": True, "refuses": REFUSED_PREFIX + "..."})

    async def _inbox(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        inbox = self.inboxes.get(name, Inbox())
        return _json(
            {
                "refusing": name in self.refusing,
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


def _soap_body_element(request: bytes) -> str:
    """The SOAP request's body element (the document the department received), as text."""
    try:
        envelope = xml.parse(request).getroot()
    except RejectedMessage as exc:
        return f"(not XML: {exc})"
    body = envelope.find(f"{{{etree.QName(envelope).namespace}}}Body")
    first = None if body is None else next(body.iterchildren(etree.Element), None)
    if first is None:
        return "(an empty SOAP body)"
    document = copy.deepcopy(first)  # without the envelope's namespace declarations
    etree.cleanup_namespaces(document)
    return etree.tostring(document, encoding="unicode")


async def start_demo_receivers(host: str, port: int) -> web.AppRunner:
    receivers = DemoReceivers(soap_address=f"http://{host}:{port}{demo_soap.PATH}")
    runner = web.AppRunner(receivers.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
