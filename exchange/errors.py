"""The hub's exception tree.

Every error a user can meet says what went wrong and what to do, in one line.
Lower-layer errors (lxml, SQLAlchemy, HTTP clients) are translated at the
boundary where they occur (``raise ... from exc``).

    ExchangeError
    ├── ConfigError                 a setting, schema, adapter, route or endpoint file is wrong
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
    ├── DeliveryError               an endpoint did not accept a delivery (``retriable`` says
    │                               whether the engine should try again)
    └── BackboneError               the backbone could not make a record durable
"""

from __future__ import annotations

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
    """Base of every error the hub raises on purpose."""


class ConfigError(ExchangeError):
    """A configuration file or setting is wrong; the message names the file, line and fix."""


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
    connection reset is worth another try, a 400 is not); the delivery engine
    asks it rather than matching exception types.
    """

    def __init__(self, detail: str, *, retriable: bool, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retriable = retriable
        self.status = status


class BackboneError(ExchangeError):
    """The backbone could not make a record durable or read it back."""
