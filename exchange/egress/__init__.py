"""Egress: how the delivery engine hands a translated document to a receiver's endpoint.

An egress sends once and says, through ``DeliveryError.retriable``, whether another try is
worthwhile (``RestEgress`` for ``kind: rest``, ``SoapEgress`` for ``kind: soap``); the engine
owns the retry loop (``backoff_delay`` / ``retry_delay``), the
per-endpoint ``CircuitBreaker`` and dead-lettering.  ``EgressRegistry`` maps an endpoint's
``kind`` to the egress that serves it; ``exchange.egress.testing`` ships test doubles.

Names are imported on first use (PEP 562), so that a module needing one light part
(the endpoint models the routes loader reads) does not import the HTTP client and zeep.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_LAZY = {
    "Egress": "exchange.egress.base",
    "EndpointError": "exchange.egress.base",
    "EndpointMisconfigured": "exchange.egress.base",
    "EndpointRejected": "exchange.egress.base",
    "EndpointUnavailable": "exchange.egress.base",
    "Outbound": "exchange.egress.base",
    "Receipt": "exchange.egress.base",
    "BreakerState": "exchange.egress.breaker",
    "CircuitBreaker": "exchange.egress.breaker",
    "CircuitBreakers": "exchange.egress.breaker",
    "expand_headers": "exchange.egress.http",
    "parse_retry_after": "exchange.egress.http",
    "ENTRY_POINT_GROUP": "exchange.egress.registry",
    "EgressRegistry": "exchange.egress.registry",
    "RestEgress": "exchange.egress.rest",
    "backoff_delay": "exchange.egress.retry",
    "retry_delay": "exchange.egress.retry",
    "SoapEgress": "exchange.egress.soap",
    "HUB_HEADER_NS": "exchange.egress.soap_envelope",
    "Fault": "exchange.egress.soap_envelope",
    "SoapOperation": "exchange.egress.wsdl",
    "WsdlCache": "exchange.egress.wsdl",
    "WsdlRefused": "exchange.egress.wsdl",
    "WsdlUnreachable": "exchange.egress.wsdl",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
