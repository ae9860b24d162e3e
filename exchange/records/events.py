"""Events: what the pipeline says happened to a message, one typed class per kind.

The stages publish them on the events topic in the same backbone write as the step they
describe (exchange/pipeline/events.py); the store is built from them (exchange/store/fold.py).
``encode`` and ``decode`` are their only way on and off the backbone: one UTF-8 JSON object
per event, ``{"event": <kind>, "id": <hub id>, "at": <ISO 8601 time>, <its fields>...}``,
the fields in the order the classes declare them.  That is what the hub wrote before events
had classes (then with a space after each ``:`` and ``,``), so events still on the backbone
from an earlier version decode alike.

The JSON is written and read by pydantic-core (pydantic's own engine, installed with it):
``bench/event_codec.py`` measured it at a fraction of the standard library's time for
these small objects, on the hub's hottest path.

A field marked ``absent_if_none`` is left out of the JSON when it is None (as it always was:
the trace of ``GET /v1/messages/{id}`` shows no ``attempt`` for a router's dead letter); every
other field is written, null included.  A field the class does not know (written by a later
version) is ignored; a missing one, an unknown kind or a time that is no time makes the
record unreadable (``UnreadableEvent``), which the indexer sets aside.

The classes are values: built once, encoded or read, never changed.  They are not frozen
because a frozen dataclass's constructor costs eight times as much, on the hot path (three
events a message, each built and read once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar

import pydantic_core

from exchange.envelope import utc_now
from exchange.records.status import EventKind

if TYPE_CHECKING:
    from exchange.envelope import Envelope

_ABSENT_IF_NONE = {"absent_if_none": True}


def _absent_if_none() -> Any:
    """A field written only when it holds something (never as null)."""
    return field(default=None, metadata=_ABSENT_IF_NONE)


class UnreadableEvent(ValueError):
    """Bytes on the events topic that are not an event this hub can read."""


@dataclass(slots=True, kw_only=True)
class Destination:
    """One copy the router made: where it goes, which route chose it, its adapter chain."""

    endpoint: str
    route: str
    adapters: tuple[str, ...] = ()


@dataclass(slots=True, kw_only=True)
class Event:
    """What every event says: which message (the hub's id) and when."""

    kind: ClassVar[EventKind]
    id: str
    at: datetime = field(default_factory=utc_now)


@dataclass(slots=True, kw_only=True)
class _Arrival(Event):
    """The envelope of a message at the front door: what the store's row of it starts from."""

    sender: str
    message_id: str
    correlation_id: str
    message_type: str
    schema_version: str | None


@dataclass(slots=True, kw_only=True)
class Accepted(_Arrival):
    kind = EventKind.ACCEPTED
    size: int  # bytes of the document as the sender sent it
    via: str  # the front door: "rest" or "soap"
    ingress_ms: float | None = _absent_if_none()  # the front door's time, receipt to accepted

    @classmethod
    def of(
        cls, envelope: Envelope, *, size: int, via: str, ingress_ms: float | None = None
    ) -> Accepted:
        return cls(id=envelope.id, **_arrival(envelope), size=size, via=via, ingress_ms=ingress_ms)


@dataclass(slots=True, kw_only=True)
class Rejected(_Arrival):
    kind = EventKind.REJECTED
    size: int
    status: int  # the HTTP status the sender got
    reason: str

    @classmethod
    def of(cls, envelope: Envelope, *, size: int, status: int, reason: str) -> Rejected:
        return cls(id=envelope.id, **_arrival(envelope), size=size, status=status, reason=reason)


@dataclass(slots=True, kw_only=True)
class Routed(Event):
    kind = EventKind.ROUTED
    destinations: tuple[Destination, ...]
    # The version of the rule set that routed it (exchange/ruleset.py ``RuleSet.version``):
    # after a reload, the trace says which set each message went by.
    rules: str | None = _absent_if_none()


@dataclass(slots=True, kw_only=True)
class Delivered(Event):
    kind = EventKind.DELIVERED
    attempt: int  # 1 for the first try
    status: int | None  # the receiver's HTTP status (None: it answered without one)
    elapsed_ms: float
    endpoint: str
    route: str
    adapters: tuple[str, ...]
    # For the traffic aggregates (exchange/store/traffic.py), carried so that the indexer
    # need not look the message up: who sent what, and how long since it was accepted.
    sender: str | None = _absent_if_none()
    message_type: str | None = _absent_if_none()
    e2e_ms: float | None = _absent_if_none()


@dataclass(slots=True, kw_only=True)
class Failed(Event):
    kind = EventKind.FAILED
    attempt: int
    error: str
    status: int | None  # the receiver's HTTP status, None if it did not answer
    retrying: bool  # a next try is scheduled (else a dead letter follows)
    endpoint: str
    route: str
    adapters: tuple[str, ...]
    sender: str | None = _absent_if_none()  # as on Delivered
    message_type: str | None = _absent_if_none()


@dataclass(slots=True, kw_only=True)
class DeadLettered(Event):
    kind = EventKind.DEAD_LETTERED
    stage: str  # "route" or "deliver"
    reason: str
    dead_letter: str  # the dead letter's id
    endpoint: str | None = _absent_if_none()  # None: the router gave up on the whole message
    attempt: int | None = _absent_if_none()  # the last try made, if it was a delivery's
    sender: str | None = _absent_if_none()  # as on Delivered
    message_type: str | None = _absent_if_none()
    route: str | None = _absent_if_none()  # the route of a delivery's copy, as on Delivered


@dataclass(slots=True, kw_only=True)
class Replayed(Event):
    kind = EventKind.REPLAYED
    dead_letter: str
    topic: str  # where the replay published the message again
    endpoint: str | None = _absent_if_none()
    by: str | None = _absent_if_none()  # who: the operator's name (sender code of the key)


@dataclass(slots=True, kw_only=True)
class Discarded(Event):
    """An operator gave up on a dead letter for good: kept for the record, never replayed."""

    kind = EventKind.DISCARDED
    dead_letter: str
    by: str  # the operator's name (sender code of the key)
    reason: str  # why, in the operator's words
    endpoint: str | None = _absent_if_none()  # None: the router's dead letter


@dataclass(slots=True, kw_only=True)
class BreakerChanged(Event):
    """An endpoint's circuit breaker changed state (or its delivery started: closed).

    Not about a message: ``id`` is ``breaker:<endpoint>`` (the events topic's key, so one
    endpoint's changes stay in order) and the store keeps the latest per endpoint, not a
    trace step.  The breaker lives in the delivery process; this is how the console, in the
    front door's, learns of it.
    """

    kind = EventKind.BREAKER
    endpoint: str
    state: str  # "closed", "open" or "half-open"
    failures: int  # retriable failures in a row
    last_error: str | None = _absent_if_none()

    @classmethod
    def of(cls, endpoint: str, state: str, failures: int, last_error: str | None) -> BreakerChanged:
        return cls(
            id=f"breaker:{endpoint}",
            endpoint=endpoint,
            state=state,
            failures=failures,
            last_error=last_error,
        )


def _arrival(envelope: Envelope) -> dict[str, Any]:
    return {
        "sender": envelope.sender,
        "message_id": envelope.message_id,
        "correlation_id": envelope.correlation_id,
        "message_type": envelope.message_type,
        "schema_version": envelope.schema_version,
    }


KINDS: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        Accepted,
        Rejected,
        Routed,
        Delivered,
        Failed,
        DeadLettered,
        Replayed,
        Discarded,
        BreakerChanged,
    )
}


@dataclass(frozen=True, slots=True)
class _Layout:
    """How one class's own fields (all but id and at) go to and come from JSON."""

    names: tuple[str, ...]
    values: Callable[[Event], tuple[Any, ...]]  # the values of ``names``, in one call
    absent_if_none: frozenset[str]
    known: frozenset[str]  # every field, id and at included


def _getter(names: tuple[str, ...]) -> Callable[[Event], tuple[Any, ...]]:
    """The values of ``names`` of an event, as a tuple, in one call."""
    if len(names) > 1:
        return attrgetter(*names)
    (name,) = names  # attrgetter of one name gives the value, not a tuple of one
    return lambda event: (getattr(event, name),)


def _layout(cls: type[Event]) -> _Layout:
    own = [f for f in fields(cls) if f.name not in ("id", "at")]
    names = tuple(f.name for f in own)
    return _Layout(
        names=names,
        values=_getter(names),
        absent_if_none=frozenset(f.name for f in own if f.metadata.get("absent_if_none")),
        known=frozenset(f.name for f in fields(cls)),
    )


_LAYOUTS = {cls: _layout(cls) for cls in KINDS.values()}


def _put(body: dict[str, Any], event: Event) -> dict[str, Any]:
    """``body`` with the event's own fields added as its JSON holds them."""
    layout = _LAYOUTS[type(event)]
    skip = layout.absent_if_none
    for name, value in zip(layout.names, layout.values(event), strict=True):
        if value is not None or name not in skip:
            body[name] = value
    return body


def fields_of(event: Event) -> dict[str, Any]:
    """The event's own fields as its JSON holds them (without event, id and at)."""
    return _put({}, event)


def to_json(value: Any) -> str:
    """JSON text of event fields (as ``fields_of`` gives them), non-ASCII kept as it is."""
    return pydantic_core.to_json(value).decode()


def encode(event: Event) -> bytes:
    """The event as it travels on the events topic."""
    body = _put({"event": event.kind, "id": event.id, "at": event.at.isoformat()}, event)
    return pydantic_core.to_json(body)


def decode(value: bytes | str) -> Event:
    """The event ``encode`` made (or an earlier version wrote) of these bytes."""
    try:
        # Only the keys are worth remembering: the values (ids, times) are new each time.
        body = pydantic_core.from_json(value, cache_strings="keys")
    except ValueError as exc:  # not JSON, or not UTF-8
        raise UnreadableEvent(f"an event is UTF-8 JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise UnreadableEvent(f"an event is a JSON object, not {type(body).__name__}")
    kind = body.pop("event", None)
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise UnreadableEvent(f"unknown event kind {kind!r}; known: {', '.join(KINDS)}")
    try:
        body["at"] = datetime.fromisoformat(body["at"])
        if "adapters" in body:
            body["adapters"] = _names(body["adapters"])
        if cls is Routed:
            body["destinations"] = tuple(_destination(d) for d in body["destinations"])
        known = _LAYOUTS[cls].known
        if not known.issuperset(body):  # fields of a later version: not this one's
            body = {name: value for name, value in body.items() if name in known}
        event: Event = cls(**body)
    except (KeyError, TypeError, ValueError) as exc:
        raise UnreadableEvent(f"a {kind} event that cannot be read: {exc!r}") from exc
    return event


def _names(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise TypeError(f"adapters is a list of names, not {value!r}")
    return tuple(value)


def _destination(value: Any) -> Destination:
    return Destination(
        endpoint=value["endpoint"],
        route=value.get("route", ""),
        adapters=_names(value.get("adapters", [])),
    )
