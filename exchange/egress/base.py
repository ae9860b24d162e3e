"""What every egress shares: the delivery it is handed, the receipt it returns, its errors.

An egress sends one document to one endpoint, once.  The delivery engine owns retries,
back-off, circuit breaking and dead-lettering; an egress only says, through the
``retriable`` flag of the error it raises, whether another try is worthwhile.

    DeliveryError (all in exchange.errors, re-exported here)
    └── EndpointError           carries the endpoint, its URL and ``retry_after``
        ├── EndpointUnavailable retriable: 5xx/408/425/429, refused, reset, DNS, timeout
        └── EndpointRejected    not retriable: the receiver refused this document
    EndpointMisconfigured       both a ConfigError and a non-retriable DeliveryError: the
                                endpoint's own configuration is wrong (e.g. a missing ${VAR})
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

from exchange.envelope import Envelope
from exchange.errors import (  # defined with the whole tree; re-exported from here
    DeliveryError,
    EndpointError,
    EndpointMisconfigured,
    EndpointRejected,
    EndpointUnavailable,
)
from exchange.routing.model import Endpoint


@dataclass(frozen=True, slots=True)
class Outbound:
    """One delivery try: the envelope, where it goes, the translated document, which try."""

    envelope: Envelope
    endpoint: Endpoint
    payload: bytes
    attempt: int  # 1 for the first try

    def __post_init__(self) -> None:
        if self.attempt < 1:
            raise ValueError(f"attempt must be 1 or more, got {self.attempt}")


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the receiver answered to a successful delivery (kept in the message's trace)."""

    status: int | None
    detail: str
    elapsed: float  # seconds from sending to the complete answer


class Egress(abc.ABC):
    """Sends documents to endpoints of one ``kind`` (``Endpoint.kind``).

    One instance serves every endpoint of its kind and may be used by many tasks at once;
    ``start`` acquires shared resources (connection pools), ``close`` releases them.
    """

    kind: ClassVar[str]
    # The fields an endpoint of this kind declares in routes/ (an Endpoint subclass whose
    # ``kind`` is a Literal of this kind): the routes loader parses and lints with it.
    endpoint_model: ClassVar[type[Endpoint]]

    async def start(self) -> None:  # noqa: B027 - optional hook, nothing to start by default
        """Acquire shared resources; called once before the first ``send``."""

    async def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release shared resources; no ``send`` follows."""

    def check(self, endpoint: Endpoint) -> None:  # noqa: B027 - optional hook
        """Raise ConfigError if ``endpoint`` cannot be served, so a bad endpoint file is
        refused when it is loaded rather than at its first delivery."""

    @abc.abstractmethod
    async def send(self, outbound: Outbound) -> Receipt:
        """Deliver ``outbound`` once; return the receipt, or raise DeliveryError."""


__all__ = [
    "DeliveryError",
    "Egress",
    "EndpointError",
    "EndpointMisconfigured",
    "EndpointRejected",
    "EndpointUnavailable",
    "Outbound",
    "Receipt",
]
