"""Egress: how the delivery engine hands a translated document to a receiver's endpoint.

An egress sends once and says, through ``DeliveryError.retriable``, whether another try is
worthwhile (``RestEgress`` for ``kind: rest``, ``SoapEgress`` for ``kind: soap``); the engine
owns the retry loop (``backoff_delay`` / ``retry_delay``), the
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
from exchange.egress.http import expand_headers, parse_retry_after
from exchange.egress.registry import ENTRY_POINT_GROUP, EgressRegistry
from exchange.egress.rest import RestEgress
from exchange.egress.retry import backoff_delay, retry_delay
from exchange.egress.soap import SoapEgress
from exchange.egress.soap_envelope import HUB_HEADER_NS, Fault
from exchange.egress.wsdl import SoapOperation, WsdlCache, WsdlRefused, WsdlUnreachable

__all__ = [
    "ENTRY_POINT_GROUP",
    "HUB_HEADER_NS",
    "BreakerState",
    "CircuitBreaker",
    "CircuitBreakers",
    "Egress",
    "EgressRegistry",
    "EndpointError",
    "EndpointMisconfigured",
    "EndpointRejected",
    "EndpointUnavailable",
    "Fault",
    "Outbound",
    "Receipt",
    "RestEgress",
    "SoapEgress",
    "SoapOperation",
    "WsdlCache",
    "WsdlRefused",
    "WsdlUnreachable",
    "backoff_delay",
    "expand_headers",
    "parse_retry_after",
    "retry_delay",
]
