"""What every egress shares: the delivery it is handed, the receipt it returns, its errors.

An egress sends one document to one endpoint, once.  The delivery engine owns retries,
back-off, circuit breaking and dead-lettering; an egress only says, through the
``retriable`` flag of the error it raises, whether another try is worthwhile.

    DeliveryError (exchange.errors)
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
from exchange.errors import ConfigError, DeliveryError
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


class EndpointError(DeliveryError):
    """A delivery failed at one endpoint; says which, where, and when to try again.

    ``retry_after`` is the wait in seconds the receiver asked for (HTTP ``Retry-After``),
    or None; the engine should not retry sooner than that.
    """

    def __init__(
        self,
        detail: str,
        *,
        endpoint: str,
        url: str,
        retriable: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail, retriable=retriable, status=status)
        self.endpoint = endpoint
        self.url = url
        self.retry_after = retry_after


class EndpointUnavailable(EndpointError):
    """The endpoint could not take the delivery now (down, overloaded, slow); try again."""

    def __init__(
        self,
        detail: str,
        *,
        endpoint: str,
        url: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            detail,
            endpoint=endpoint,
            url=url,
            retriable=True,
            status=status,
            retry_after=retry_after,
        )


class EndpointRejected(EndpointError):
    """The receiver refused this document; the same try would be refused again."""

    def __init__(self, detail: str, *, endpoint: str, url: str, status: int | None) -> None:
        super().__init__(detail, endpoint=endpoint, url=url, retriable=False, status=status)


class EndpointMisconfigured(ConfigError, DeliveryError):
    """The endpoint's configuration cannot be used (for example a ``${VAR}`` that is not set).

    A ConfigError for whoever loads or lints endpoints, and a non-retriable DeliveryError
    for the engine, which dead-letters the message so it can be replayed once fixed.
    """

    def __init__(self, detail: str, *, endpoint: str) -> None:
        DeliveryError.__init__(self, detail, retriable=False)
        self.endpoint = endpoint


class Egress(abc.ABC):
    """Sends documents to endpoints of one ``kind`` (``Endpoint.kind``).

    One instance serves every endpoint of its kind and may be used by many tasks at once;
    ``start`` acquires shared resources (connection pools), ``close`` releases them.
    """

    kind: ClassVar[str]

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
