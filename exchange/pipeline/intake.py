"""Intake: the one code path behind every front door (REST now, SOAP later).

It answers the sender synchronously: who (401/403), is it safe and well-formed
XML (413/400), is it valid (422 with every problem), does any route take it
(422), and only then ``accepted`` once the message is durable on the backbone.
A resubmission of the same (sender, message id) gets the first answer back and
makes no second copy.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from exchange import xml
from exchange.backbone.base import Backbone, Record
from exchange.backbone.topics import INBOUND
from exchange.catalog import Catalog
from exchange.envelope import MAX_ID_LENGTH, Envelope, hub_id_for, id_problem
from exchange.errors import (
    BadEnvelope,
    Forbidden,
    InvalidMessage,
    NoRoute,
    RejectedMessage,
    Unauthenticated,
    UnknownMessageType,
)
from exchange.pipeline import events
from exchange.pipeline.coalesce import Coalescer
from exchange.settings import Settings
from exchange.store import KeyStore, Queries

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Submission:
    """A message as a front door received it, before anything is trusted."""

    body: bytes
    key: str | None
    sender: str | None = None
    message_id: str | None = None
    correlation_id: str | None = None
    message_type: str | None = None
    schema_version: str | None = None
    via: str = "rest"


@dataclass(frozen=True, slots=True)
class Accepted:
    id: str
    message_id: str
    correlation_id: str
    duplicate: bool = False

    def as_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "status": "accepted",
            "message_id": self.message_id,
            "correlation_id": self.correlation_id,
        }


class Intake:
    RECENT = 100_000  # accepted ids remembered in memory (the store is the long memory)

    def __init__(
        self,
        *,
        settings: Settings,
        backbone: Backbone,
        keys: KeyStore,
        queries: Queries,
        catalog: Callable[[], Catalog],
    ) -> None:
        self._settings = settings
        self._backbone = backbone
        self._keys = keys
        self._queries = queries
        self._catalog = catalog
        self._recent: OrderedDict[str, Accepted] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[Accepted]] = {}
        self._summaries = Coalescer(queries.message_summaries)

    async def submit(self, submission: Submission) -> Accepted:
        sender = await self._authenticate(submission)
        _check_id("message id", submission.message_id)
        _check_id("correlation id", submission.correlation_id)
        if submission.message_id is None:
            return await self._accept(sender, submission)
        hub_id = hub_id_for(sender, submission.message_id)
        first = await self._first_answer(hub_id)
        if first is not None:
            return first
        pending = self._inflight.get(hub_id)
        if pending is not None:  # the same message is being submitted right now
            return _as_duplicate(await asyncio.shield(pending))
        future: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        self._inflight[hub_id] = future
        try:
            answer = await self._accept(sender, submission)
            future.set_result(answer)
            return answer
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else needs to
            raise
        finally:
            del self._inflight[hub_id]

    async def _authenticate(self, submission: Submission) -> str:
        if not submission.key:
            raise Unauthenticated(
                "no key: send 'Authorization: Bearer <key>' with the key the operators issued "
                "to your system (exchange keys create SENDER)"
            )
        identity = await self._keys.identify(submission.key)
        if identity is None:
            raise Unauthenticated(
                "unknown or revoked key; check the key, or ask the operators for a new one"
            )
        sender = identity.sender
        if submission.sender and submission.sender != sender:
            raise Forbidden(
                f"this key belongs to sender {sender!r}, not {submission.sender!r}; "
                "send with your own sender code or use that sender's key"
            )
        return sender

    async def _first_answer(self, hub_id: str) -> Accepted | None:
        recent = self._recent.get(hub_id)
        if recent is not None:
            return _as_duplicate(recent)
        message = await self._summaries.get(hub_id)
        if message is None or message["status"] == "rejected":
            return None  # rejected messages do not use up their id: fix and resend
        return Accepted(
            id=hub_id,
            message_id=message["message_id"],
            correlation_id=message["correlation_id"],
            duplicate=True,
        )

    async def _accept(self, sender: str, submission: Submission) -> Accepted:
        settings = self._settings
        tree = xml.parse(
            submission.body,
            max_bytes=settings.max_message_bytes,
            max_depth=settings.max_xml_depth,
        )
        catalog = self._catalog()
        root_type = xml.qualified_name(tree.getroot())
        schema = catalog.schemas.lookup(
            submission.message_type or root_type, submission.schema_version
        )
        envelope = Envelope.new(
            sender=sender,
            message_type=schema.name,
            message_id=submission.message_id,
            correlation_id=submission.correlation_id,
            schema_version=schema.version,
        )
        try:
            if schema.qname != root_type:
                raise UnknownMessageType(
                    f"declared type {schema.name} has root {schema.qname}, but the document's "
                    f"root is {root_type}; send the matching document or fix "
                    "X-Exchange-Message-Type"
                )
            names = catalog.type_names(schema)
            if not catalog.routing.may_send(sender, names):
                raise Forbidden(
                    f"sender {sender!r} may not send {schema.name}; ask the operators to add it "
                    "to the sender's may_send list in routes/"
                )
            problems = schema.validate(tree)
            if problems:
                raise InvalidMessage(
                    f"{len(problems)} problem(s) against {schema.name} {schema.version}; "
                    "fix each one listed and send again",
                    problems,
                )
            if not catalog.routing.destinations_for(sender=sender, type_names=names, document=tree):
                raise NoRoute(
                    f"no route takes {schema.name} from {sender!r}; ask the operators to add a "
                    "route (routes/*.yaml) or check the document's content"
                )
        except RejectedMessage as exc:
            await self._record_rejection(envelope, len(submission.body), exc)
            raise
        inbound = Record(
            topic=INBOUND,
            value=submission.body,
            key=envelope.correlation_id,
            headers=envelope.to_headers(),
            dedup_key=envelope.id,
        )
        await self._backbone.publish(
            [inbound, events.accepted(envelope, len(submission.body), submission.via)]
        )
        answer = Accepted(envelope.id, envelope.message_id, envelope.correlation_id)
        self._remember(answer)
        return answer

    async def _record_rejection(self, envelope: Envelope, size: int, exc: RejectedMessage) -> None:
        try:
            await self._backbone.publish([events.rejected(envelope, size, exc.status, exc.detail)])
        except Exception:  # the sender's answer matters more than the trace entry
            log.exception("could not record the rejection of %s", envelope.id)

    def _remember(self, answer: Accepted) -> None:
        self._recent[answer.id] = answer
        if len(self._recent) > self.RECENT:
            self._recent.popitem(last=False)

    def recent(self, hub_id: str) -> Accepted | None:
        """An id accepted here that the store may not have indexed yet."""
        return self._recent.get(hub_id)


def _check_id(name: str, value: str | None) -> None:
    problem = None if value is None else id_problem(value)
    if problem is not None:
        raise BadEnvelope(
            f"the {name} {problem}; use 1 to {MAX_ID_LENGTH} visible ASCII characters "
            "(letters, digits, punctuation; no spaces) and send again"
        )


def _as_duplicate(answer: Accepted) -> Accepted:
    return Accepted(answer.id, answer.message_id, answer.correlation_id, duplicate=True)
