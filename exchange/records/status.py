"""The words the hub records things in: event kinds, message and delivery statuses.

String enums: each member is its value (``MessageStatus.DELIVERED == "delivered"``), so the
events' JSON, the store's columns and the REST answers hold the same strings as they always
did, and a value read back from any of them compares equal to its member.
"""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    """What happened to a message: the ``event`` of an event, the ``step`` of its trace."""

    ACCEPTED = "accepted"  # the front door took it (the 202)
    REJECTED = "rejected"  # the front door refused it (the 4xx), for the trace
    ROUTED = "routed"  # the router made one copy per destination
    DELIVERED = "delivered"  # a receiver took one copy
    FAILED = "failed"  # a try to deliver one copy failed (retried or not)
    DEAD_LETTERED = "dead_lettered"  # the hub gave up on a copy, or on the whole message
    REPLAYED = "replayed"  # an operator put a dead letter back
    DISCARDED = "discarded"  # an operator gave up on a dead letter for good, with a reason
    BREAKER = "breaker"  # an endpoint's circuit breaker changed state (not about a message)


class MessageStatus(StrEnum):
    """A message's status (``GET /v1/messages/{id}``), from its deliveries once routed."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    ROUTED = "routed"  # no delivery taken yet
    DELIVERING = "delivering"  # some deliveries taken, others on their way
    FAILED = "failed"  # a delivery failed and waits for its retry
    DELIVERED = "delivered"  # every delivery taken
    DEAD_LETTERED = "dead_lettered"  # a delivery, or the routing, was given up
    # Every delivery delivered or discarded (at least one discarded: an operator gave up on
    # its dead letter), or the routing's dead letter discarded: finished, not delivered.
    DISCARDED = "discarded"


class DeliveryStatus(StrEnum):
    """The status of one copy of a message, to one endpoint."""

    PENDING = "pending"  # routed (or replayed), not tried yet
    RETRYING = "retrying"  # a try failed, the next one is scheduled
    FAILED = "failed"  # a try failed and none follows (the dead letter comes with it)
    DELIVERED = "delivered"
    DEAD_LETTERED = "dead_lettered"
    DISCARDED = "discarded"  # its dead letter was discarded by an operator
