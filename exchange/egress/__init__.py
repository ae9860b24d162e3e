"""Egress: how the delivery engine hands a translated document to a receiver's endpoint.

An egress sends once and says, through ``DeliveryError.retriable``, whether another try is
worthwhile; the engine owns the retry loop (``backoff_delay`` / ``retry_delay``), the
per-endpoint ``CircuitBreaker`` and dead-lettering.  ``EgressRegistry`` maps an endpoint's
``kind`` to the egress that serves it.
"""

from exchange.egress.base import (
    Egress,
    EndpointError,
    EndpointMisconfigured,
    EndpointRejected,
    EndpointUnavailable,
    Outbound,
    Receipt,
)
from exchange.egress.breaker import BreakerState, CircuitBreaker, CircuitBreakers
from exchange.egress.registry import ENTRY_POINT_GROUP, EgressRegistry
from exchange.egress.rest import RestEgress, expand_headers, parse_retry_after
from exchange.egress.retry import backoff_delay, retry_delay

__all__ = [
    "ENTRY_POINT_GROUP",
    "BreakerState",
    "CircuitBreaker",
    "CircuitBreakers",
    "Egress",
    "EgressRegistry",
    "EndpointError",
    "EndpointMisconfigured",
    "EndpointRejected",
    "EndpointUnavailable",
    "Outbound",
    "Receipt",
    "RestEgress",
    "backoff_delay",
    "expand_headers",
    "parse_retry_after",
    "retry_delay",
]
