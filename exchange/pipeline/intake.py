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
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exchange import logs, metrics, xml
from exchange.backbone.base import Backbone, Record
from exchange.backbone.topics import INBOUND
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
from exchange.pipeline.coalesce import Coalescer
from exchange.pipeline.events import publishable
from exchange.records import events as ev
from exchange.records.status import MessageStatus
from exchange.ruleset import RuleSet
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
        """The receipt: what the 202 answers."""
        return {
            "id": self.id,
            "status": MessageStatus.ACCEPTED,
            "message_id": self.message_id,
            "correlation_id": self.correlation_id,
        }


@dataclass(frozen=True, slots=True)
class _Remembered:
    """A message accepted here, kept until the store has surely indexed it."""

    answer: Accepted
    envelope: Envelope
    size: int
    at: float  # time.monotonic() of the 202

    def as_message(self) -> dict[str, Any]:
        """The shape of ``Queries.message``, with the trace still to come."""
        envelope = self.envelope
        return {
            "id": envelope.id,
            "status": MessageStatus.ACCEPTED,
            "sender": envelope.sender,
            "message_id": envelope.message_id,
            "correlation_id": envelope.correlation_id,
            "message_type": envelope.message_type,
            "schema_version": envelope.schema_version,
            "size_bytes": self.size,
            "received_at": envelope.created_at,
            "updated_at": envelope.created_at,
            "last_error": None,
            "trace": [],
            "deliveries": [],
        }


class Intake:
    # Accepted messages remembered here, for the moments before the store has indexed them
    # (the store is the long memory): at most this many, and none longer than this (or than
    # half the store's retention), so a message the store's retention has deleted is not
    # answered from here afterwards.
    RECENT = 100_000
    RECENT_SECONDS = 300.0

    def __init__(
        self,
        *,
        settings: Settings,
        backbone: Backbone,
        keys: KeyStore,
        queries: Queries,
        rules: Callable[[], RuleSet],
    ) -> None:
        self._settings = settings
        self._backbone = backbone
        self._keys = keys
        self._queries = queries
        self._rules = rules
        self._recent: OrderedDict[str, _Remembered] = OrderedDict()
        retention_ms = settings.store_retention_ms
        self.recent_seconds = (
            self.RECENT_SECONDS
            if retention_ms == -1
            else min(self.RECENT_SECONDS, retention_ms / 2000)
        )
        self._inflight: dict[str, asyncio.Future[Accepted]] = {}
        self._summaries = Coalescer(queries.message_summaries)
        self._metrics = metrics.current()

    async def submit(self, submission: Submission) -> Accepted:
        started = time.perf_counter()
        try:
            sender = await self._authenticate(submission)
        except RejectedMessage as exc:
            self._metrics.rejected("", exc.status, exc.title)
            raise
        try:
            return await self._submit_as(sender, submission, started)
        except RejectedMessage as exc:
            self._metrics.rejected(sender, exc.status, exc.title)
            raise

    async def _submit_as(self, sender: str, submission: Submission, started: float) -> Accepted:
        _check_id("message id", submission.message_id)
        _check_id("correlation id", submission.correlation_id)
        if submission.message_id is None:
            return await self._accept(sender, submission, started)
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
            answer = await self._accept(sender, submission, started)
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
        recent = self._recently_accepted(hub_id)
        if recent is not None:
            return _as_duplicate(recent.answer)
        message = await self._summaries.get(hub_id)
        if message is None or message["status"] == MessageStatus.REJECTED:
            return None  # rejected messages do not use up their id: fix and resend
        return Accepted(
            id=hub_id,
            message_id=message["message_id"],
            correlation_id=message["correlation_id"],
            duplicate=True,
        )

    async def _accept(self, sender: str, submission: Submission, started: float) -> Accepted:
        settings = self._settings
        tree = xml.parse(
            submission.body,
            max_bytes=settings.max_message_bytes,
            max_depth=settings.max_xml_depth,
        )
        rules = self._rules()
        root_type = xml.qualified_name(tree.getroot())
        schema = rules.schemas.lookup(
            submission.message_type or root_type, submission.schema_version
        )
        envelope = Envelope.new(
            sender=sender,
            message_type=schema.name,
            message_id=submission.message_id,
            correlation_id=submission.correlation_id,
            schema_version=schema.version,
        )
        # this request's log lines from here on name the message
        logs.stage.set("intake")
        logs.hub_id.set(envelope.id)
        try:
            if schema.qname != root_type:
                raise UnknownMessageType(
                    f"declared type {schema.name} has root {schema.qname}, but the document's "
                    f"root is {root_type}; send the matching document or fix "
                    "X-Exchange-Message-Type"
                )
            names = rules.type_names(schema)
            if not rules.routing.may_send(sender, names):
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
            if not rules.routing.destinations_for(
                sender=sender, type_names=names, document=tree, version=schema.version
            ):
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
            [
                inbound,
                publishable(
                    ev.Accepted.of(
                        envelope,
                        size=len(submission.body),
                        via=submission.via,
                        # the front door's own time, for the console's ingress latency
                        ingress_ms=round((time.perf_counter() - started) * 1000, 3),
                    )
                ),
            ]
        )
        answer = Accepted(envelope.id, envelope.message_id, envelope.correlation_id)
        self._metrics.accepted(sender, schema.name, time.perf_counter() - started)
        self._remember(_Remembered(answer, envelope, len(submission.body), time.monotonic()))
        return answer

    async def _record_rejection(self, envelope: Envelope, size: int, exc: RejectedMessage) -> None:
        try:
            rejected = ev.Rejected.of(envelope, size=size, status=exc.status, reason=exc.detail)
            await self._backbone.publish([publishable(rejected)])
        except Exception:  # the sender's answer matters more than the trace entry
            log.exception("could not record the rejection of %s", envelope.id)

    def _remember(self, accepted: _Remembered) -> None:
        self._recent[accepted.envelope.id] = accepted
        too_old = accepted.at - self.recent_seconds
        while self._recent and (
            len(self._recent) > self.RECENT or next(iter(self._recent.values())).at < too_old
        ):
            self._recent.popitem(last=False)

    def _recently_accepted(self, hub_id: str) -> _Remembered | None:
        recent = self._recent.get(hub_id)
        if recent is None or recent.at < time.monotonic() - self.recent_seconds:
            return None
        return recent

    async def message(self, hub_id: str) -> dict[str, Any] | None:
        """What a front door answers about one message: the store's view (status, trace,
        deliveries); for one accepted here that the store has not indexed yet, the same
        fields with status ``accepted`` and an empty trace; None if neither knows it."""
        found = await self._queries.message(hub_id)
        if found is not None:
            return found
        recent = self._recently_accepted(hub_id)
        return None if recent is None else recent.as_message()


def _check_id(name: str, value: str | None) -> None:
    problem = None if value is None else id_problem(value)
    if problem is not None:
        raise BadEnvelope(
            f"the {name} {problem}; use 1 to {MAX_ID_LENGTH} visible ASCII characters "
            "(letters, digits, punctuation; no spaces) and send again"
        )


def _as_duplicate(answer: Accepted) -> Accepted:
    return Accepted(answer.id, answer.message_id, answer.correlation_id, duplicate=True)
