"""The hub's metrics, and the calls the stages make to count and time what they do.

Every label value comes from a bounded set: senders are key holders, types are registered
schemas, routes and endpoints come from routes/, reasons are the refusals' HTTP status and
problem title.  No id, no free text.

The stages call these methods once per message (or per batch), on the hot path: the child
metric of each label combination is looked up once and kept, so a count is a dict lookup and
one write to the process's metrics file (see ``collection``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

C = TypeVar("C")

# Seconds; the hub answers a submission in milliseconds and delivers in tens of them, and a
# receiver may take its time-out (10 s by default).
FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
END_TO_END_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
PUBLISH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

# The breaker gauge's values: the worst state of any process wins (livemax).
BREAKER_VALUES = {"closed": 0.0, "half-open": 1.0, "open": 2.0}

MESSAGE = ("sender", "type")
DELIVERY = ("sender", "type", "route", "endpoint")


class HubMetrics:
    """The metric objects of one process.  ``registry`` is where they are registered when the
    process is alone (no metrics folder); in multi-process mode they are read from the files
    and need no registry."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.registry = registry
        r = registry
        self._accepted = Counter(
            "exchange_messages_accepted",
            "Messages accepted (202), by sender and message type.",
            MESSAGE,
            registry=r,
        )
        self._rejected = Counter(
            "exchange_messages_rejected",
            "Submissions refused, by sender ('' when not authenticated), HTTP status and "
            "problem title.",
            ("sender", "status", "reason"),
            registry=r,
        )
        self._ingress = Histogram(
            "exchange_ingress_seconds",
            "From the submission's body read to the 202 (the message durable on the backbone).",
            MESSAGE,
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self._delivered = Counter(
            "exchange_deliveries_delivered",
            "Deliveries a receiver accepted.",
            DELIVERY,
            registry=r,
        )
        self._failed = Counter(
            "exchange_deliveries_failed",
            "Delivery attempts that failed (retried or not).",
            DELIVERY,
            registry=r,
        )
        self._dead = Counter(
            "exchange_dead_letters",
            "Messages or deliveries given up on, by the stage that gave up ('route' or "
            "'deliver'); endpoint and route are '' when the router gave up on the whole message.",
            ("stage", *DELIVERY),
            registry=r,
        )
        self._replayed = Counter(
            "exchange_dead_letters_replayed",
            "Dead letters replayed, by endpoint ('' for a message replayed to the router).",
            ("endpoint",),
            registry=r,
        )
        self._attempt = Histogram(
            "exchange_delivery_attempt_seconds",
            "One delivery attempt: the send to the receiver and its answer.",
            ("endpoint",),
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self._end_to_end = Histogram(
            "exchange_end_to_end_seconds",
            "From the 202 to the receiver's acceptance.",
            ("endpoint",),
            buckets=END_TO_END_BUCKETS,
            registry=r,
        )
        self._breaker = Gauge(
            "exchange_breaker_state",
            "Each endpoint's circuit breaker: 0 closed, 1 half-open, 2 open (the worst over "
            "the processes delivering to it).",
            ("endpoint",),
            multiprocess_mode="livemax",
            registry=r,
        )
        self._publish = Histogram(
            "exchange_backbone_publish_seconds",
            "One durable backbone write: 'publish', or 'publish_and_commit' (outputs and the "
            "inputs' offsets together).",
            ("backbone", "operation"),
            buckets=PUBLISH_BUCKETS,
            registry=r,
        )
        self._children: dict[Hashable, object] = {}

    def _child(self, key: Hashable, make: Callable[[], C]) -> C:
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = make()
        return child  # type: ignore[return-value]

    # -- intake ------------------------------------------------------------------------------

    def accepted(self, sender: str, message_type: str, seconds: float) -> None:
        count, timing = self._child(
            ("accepted", sender, message_type),
            lambda: (
                self._accepted.labels(sender, message_type),
                self._ingress.labels(sender, message_type),
            ),
        )
        count.inc()
        timing.observe(seconds)

    def rejected(self, sender: str, status: int, reason: str) -> None:
        self._child(
            ("rejected", sender, status, reason),
            lambda: self._rejected.labels(sender, str(status), reason),
        ).inc()

    # -- delivery ----------------------------------------------------------------------------

    def _timings(self, endpoint: str) -> tuple[Any, Any]:
        """The endpoint's attempt and end-to-end histograms (made once, then reused)."""
        return self._child(
            ("timing", endpoint),
            lambda: (self._attempt.labels(endpoint), self._end_to_end.labels(endpoint)),
        )

    def delivered(
        self,
        sender: str,
        message_type: str,
        route: str,
        endpoint: str,
        attempt_seconds: float,
        end_to_end_seconds: float | None,
    ) -> None:
        count = self._child(
            ("delivered", sender, message_type, route, endpoint),
            lambda: self._delivered.labels(sender, message_type, route, endpoint),
        )
        attempt, end_to_end = self._timings(endpoint)
        count.inc()
        attempt.observe(attempt_seconds)
        if end_to_end_seconds is not None:
            end_to_end.observe(end_to_end_seconds)

    def failed(
        self, sender: str, message_type: str, route: str, endpoint: str, attempt_seconds: float
    ) -> None:
        count = self._child(
            ("failed", sender, message_type, route, endpoint),
            lambda: self._failed.labels(sender, message_type, route, endpoint),
        )
        attempt, _ = self._timings(endpoint)
        count.inc()
        attempt.observe(attempt_seconds)

    def dead_lettered(
        self, stage: str, sender: str, message_type: str, route: str, endpoint: str
    ) -> None:
        self._child(
            ("dead", stage, sender, message_type, route, endpoint),
            lambda: self._dead.labels(stage, sender, message_type, route, endpoint),
        ).inc()

    def replayed(self, endpoint: str, count: int = 1) -> None:
        self._child(("replayed", endpoint), lambda: self._replayed.labels(endpoint)).inc(count)

    def breaker(self, endpoint: str, state: str) -> None:
        self._child(("breaker", endpoint), lambda: self._breaker.labels(endpoint)).set(
            BREAKER_VALUES.get(state, 0.0)
        )

    # -- backbone ----------------------------------------------------------------------------

    def published(self, backbone: str, operation: str, seconds: float) -> None:
        self._child(
            ("publish", backbone, operation), lambda: self._publish.labels(backbone, operation)
        ).observe(seconds)


class NoMetrics(HubMetrics):
    """What the stages call when metrics are off (``EXCHANGE_METRICS=false``): nothing."""

    def __init__(self) -> None:
        self.registry = None

    def accepted(self, sender: str, message_type: str, seconds: float) -> None:
        return

    def rejected(self, sender: str, status: int, reason: str) -> None:
        return

    def delivered(
        self,
        sender: str,
        message_type: str,
        route: str,
        endpoint: str,
        attempt_seconds: float,
        end_to_end_seconds: float | None,
    ) -> None:
        return

    def failed(
        self, sender: str, message_type: str, route: str, endpoint: str, attempt_seconds: float
    ) -> None:
        return

    def dead_lettered(
        self, stage: str, sender: str, message_type: str, route: str, endpoint: str
    ) -> None:
        return

    def replayed(self, endpoint: str, count: int = 1) -> None:
        return

    def breaker(self, endpoint: str, state: str) -> None:
        return

    def published(self, backbone: str, operation: str, seconds: float) -> None:
        return
