"""The hub's exception tree: every error the hub raises on purpose, in one module.

Every error a user can meet says what went wrong and what to do, in one line
(``detail``). Lower-layer errors (lxml, SQLAlchemy, HTTP clients) are translated
at the boundary where they occur (``raise ... from exc``). Each class says
whether the engine should try again (``retriable``, class-level, False unless a
class says otherwise; a ``DeliveryError`` may also decide per instance): the
retry loop asks the flag instead of matching types.

    ExchangeError                   detail, retriable = False
    ├── ConfigError                 a setting, schema, adapter, route or endpoint file is wrong
    │   ├── AdapterConfigError      adapter folders are wrong; ``problems``, one line each
    │   ├── PluginError             a plug-in kind is unknown, fails to import, wrong base class
    │   └── EndpointMisconfigured   an endpoint cannot be used as configured (also a
    │                               DeliveryError, not retriable: the message is dead-lettered)
    ├── RejectedMessage             the sender's message is refused (maps to a 4xx answer)
    │   ├── Unauthenticated         401: no key, or an unknown / revoked key
    │   ├── Forbidden               403: sender mismatch, or type not allowed for this sender
    │   ├── PayloadTooLarge         413: over the size limit
    │   ├── UnsupportedMediaType    415: not an XML content type
    │   ├── BadEnvelope             400: an envelope field (message id, correlation id) is unusable
    │   ├── UnsafeXml               400: DTD, entities, external references, too deep
    │   ├── MalformedXml            400: not well-formed, bad encoding
    │   ├── UnknownMessageType      422: no schema registered for the type
    │   ├── InvalidMessage          422: schema or business-rule errors (carries every Problem)
    │   └── NoRoute                 422: no route accepts the message
    ├── TranslationError            an adapter failed or produced an invalid document
    ├── DeliveryError               an endpoint did not accept a delivery
    │   └── EndpointError           which endpoint, its URL, the receiver's ``retry_after``
    │       ├── EndpointUnavailable retriable: 5xx/408/425/429, refused, reset, DNS, timeout
    │       └── EndpointRejected    not retriable: the receiver refused this document
    └── BackboneError               the backbone could not make a record durable

Elsewhere, because their modules' owners keep them there: ``WsdlRefused`` and
``WsdlUnreachable`` (ConfigError, ``exchange.egress.wsdl``), ``IncompatibleSchema``
(ConfigError, ``exchange.schemas.compat``), ``OwnershipLost`` (BackboneError,
``exchange.backbone.base``). Lint *problems* (``LintProblem``, ``Problem``) are data
that a report lists, not errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a document: where it is and which rule says so."""

    message: str
    line: int | None = None
    path: str | None = None
    rule: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class ExchangeError(Exception):
    """Base of every error the hub raises on purpose; ``detail`` is its one-line message."""

    # Whether the same operation may succeed if tried again; the engine asks this.
    retriable: bool = False

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.detail = str(args[0]) if args else ""


class ConfigError(ExchangeError):
    """A configuration file or setting is wrong; the message names the file, line and fix."""


class AdapterConfigError(ConfigError):
    """One or more adapters are wrongly defined; ``problems`` holds one line per problem.

    Loading goes on after the first bad folder so that an operator fixes a whole
    ``adapters/`` tree in one round instead of one error per restart.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            lines = "\n".join(f"  - {problem}" for problem in self.problems)
            message = f"{len(self.problems)} problems with adapters:\n{lines}"
        super().__init__(message)


class PluginError(ConfigError):
    """A plug-in kind is unknown, cannot be imported or is not what its family expects."""


class RejectedMessage(ExchangeError):
    """A submitted message is refused; ``status`` is the HTTP status the sender gets."""

    status: int = 400
    title: str = "Bad request"

    def __init__(self, detail: str, problems: list[Problem] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problems = problems or []


class Unauthenticated(RejectedMessage):
    status = 401
    title = "Unauthenticated"


class Forbidden(RejectedMessage):
    status = 403
    title = "Forbidden"


class PayloadTooLarge(RejectedMessage):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(RejectedMessage):
    status = 415
    title = "Unsupported media type"


class BadEnvelope(RejectedMessage):
    status = 400
    title = "Bad envelope"


class UnsafeXml(RejectedMessage):
    status = 400
    title = "Unsafe XML"


class MalformedXml(RejectedMessage):
    status = 400
    title = "Malformed XML"


class UnknownMessageType(RejectedMessage):
    status = 422
    title = "Unknown message type"


class InvalidMessage(RejectedMessage):
    status = 422
    title = "Invalid message"


class NoRoute(RejectedMessage):
    status = 422
    title = "No route"


class TranslationError(ExchangeError):
    """An adapter raised, or its output failed the target type's schema."""

    def __init__(self, detail: str, problems: list[Problem] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problems = problems or []


class DeliveryError(ExchangeError):
    """An endpoint did not accept a delivery.

    ``retriable`` is decided by the egress that knows the protocol (a 503 or a
    connection reset is worth another try, a 400 is not): a subclass says it at
    class level, or the egress passes it; the delivery engine asks it rather
    than matching exception types.
    """

    def __init__(
        self, detail: str, *, retriable: bool | None = None, status: int | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if retriable is not None:
            self.retriable = retriable
        self.status = status


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
        retriable: bool | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail, retriable=retriable, status=status)
        self.endpoint = endpoint
        self.url = url
        self.retry_after = retry_after


class EndpointUnavailable(EndpointError):
    """The endpoint could not take the delivery now (down, overloaded, slow); try again."""

    retriable = True

    def __init__(
        self,
        detail: str,
        *,
        endpoint: str,
        url: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail, endpoint=endpoint, url=url, status=status, retry_after=retry_after)


class EndpointRejected(EndpointError):
    """The receiver refused this document; the same try would be refused again."""

    retriable = False

    def __init__(self, detail: str, *, endpoint: str, url: str, status: int | None) -> None:
        super().__init__(detail, endpoint=endpoint, url=url, status=status)


class EndpointMisconfigured(ConfigError, DeliveryError):
    """The endpoint's configuration cannot be used (for example a ``${VAR}`` that is not set).

    A ConfigError for whoever loads or lints endpoints, and a non-retriable DeliveryError
    for the engine, which dead-letters the message so it can be replayed once fixed.
    """

    retriable = False

    def __init__(self, detail: str, *, endpoint: str) -> None:
        DeliveryError.__init__(self, detail)
        self.endpoint = endpoint


class BackboneError(ExchangeError):
    """The backbone could not make a record durable or read it back."""
