"""The JSON bodies of the REST front door's answers, as models for the OpenAPI document.

The handlers build these bodies as plain dicts (exchange/store/queries.py,
exchange/pipeline/intake.py, exchange/ingress/rest.py): the models here only
describe them, so a generated client gets typed answers.  A field that the hub
leaves out rather than sending ``null`` is typed ``X | SkipJsonSchema[None]``:
optional in the schema, never null.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema, models_json_schema

MessageStatus = Literal[
    "accepted",
    "rejected",
    "routed",
    "delivering",
    "failed",
    "delivered",
    "dead_lettered",
    "discarded",
]
DeliveryStatus = Literal["pending", "retrying", "failed", "delivered", "dead_lettered", "discarded"]


class ProblemItem(BaseModel):
    """One thing wrong with the document: where it is and which rule says so."""

    message: str = Field(description="What is wrong, and how to fix it.")
    line: int | SkipJsonSchema[None] = Field(None, description="Line in the document.")
    path: str | SkipJsonSchema[None] = Field(None, description="XPath of the element.")
    rule: str | SkipJsonSchema[None] = Field(
        None, description='"xsd" for a schema error, else the business rule ("uscc", ...).'
    )


class Problem(BaseModel):
    """Every refusal and failure (RFC 9457 problem details, application/problem+json)."""

    type: str = Field("about:blank", description="Always about:blank: the status says it.")
    title: str = Field(description="Short name of the status, e.g. Invalid message.")
    status: int = Field(description="The HTTP status of the answer.")
    detail: str = Field(description="What went wrong and what to do, in one line.")
    errors: list[ProblemItem] | SkipJsonSchema[None] = Field(
        None, description="Every problem found (on refusals of a submission)."
    )


class Accepted(BaseModel):
    """The receipt for a submission: the message is durable on the backbone."""

    id: UUID = Field(description="The hub's id: GET /v1/messages/{id}.")
    status: Literal["accepted"]
    message_id: str = Field(description="Your message id, or the one the hub assigned.")
    correlation_id: str = Field(description="Your correlation id, or the hub's id.")


class Step(BaseModel):
    """One step of the message's path; other fields depend on the step."""

    model_config = ConfigDict(extra="allow")

    at: datetime
    step: str = Field(description="accepted, rejected, routed, delivered, failed, ...")
    endpoint: str | None = Field(description="The destination the step concerns, if any.")


class Delivery(BaseModel):
    """Where the message stands with one destination endpoint."""

    endpoint: str
    route: str
    adapters: list[str] = Field(description="The adapter chain, in order.")
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    http_status: int | None = Field(description="The receiver's last HTTP status.")
    updated_at: datetime


class Message(BaseModel):
    """A message's status, its trace and one record per destination.

    Just after the 202, before the store has indexed it, only id, status,
    message_id, correlation_id and empty trace and deliveries are known.
    """

    id: UUID
    status: MessageStatus
    message_id: str
    correlation_id: str
    sender: str | SkipJsonSchema[None] = None
    message_type: str | SkipJsonSchema[None] = None
    schema_version: str | None = None
    size_bytes: int | SkipJsonSchema[None] = None
    received_at: datetime | SkipJsonSchema[None] = None
    updated_at: datetime | SkipJsonSchema[None] = None
    last_error: str | None = None
    trace: list[Step]
    deliveries: list[Delivery]


class DeadLetter(BaseModel):
    """A message, or one destination's copy of it, that the hub gave up on."""

    id: UUID = Field(description="The dead letter's id: POST /v1/dead-letters/{id}/replay.")
    message: UUID = Field(description="The hub's id of the message.")
    stage: Literal["route", "deliver"]
    endpoint: str | None = Field(description="The destination, for a failed delivery.")
    reason: str
    created_at: datetime
    replayed_at: datetime | None
    replay_count: int


class DeadLetterPage(BaseModel):
    """One page of dead letters, newest first."""

    dead_letters: list[DeadLetter]
    next_cursor: str | None = Field(
        description="Pass as cursor for the next page; null on the last page."
    )


class Replayed(BaseModel):
    """A dead letter put back where it failed."""

    id: UUID = Field(description="The dead letter's id.")
    message: UUID = Field(description="The hub's id of the message.")
    status: Literal["replayed"]
    topic: str = Field(description="The backbone topic it was published to again.")


class Health(BaseModel):
    """The hub answers and its store is readable."""

    status: Literal["ok"]
    messages: dict[str, int] = Field(
        description="Messages in flight, by status: always the keys accepted, routed, "
        "delivering and failed (0 if none). Finished (delivered, rejected) and dead-lettered "
        "messages are not counted: see GET /v1/messages/{id} and GET /v1/dead-letters."
    )
    index_failures: int = Field(
        description="Records the indexer set aside (kept in the store's index_failures "
        "table until EXCHANGE_STORE_RETENTION_MS): those messages' statuses may be stale."
    )


class Degraded(BaseModel):
    """The store cannot be read."""

    status: Literal["degraded"]
    store: str = Field(description="The store's error.")


MODELS: tuple[type[BaseModel], ...] = (
    Problem,
    Accepted,
    Message,
    DeadLetterPage,
    Replayed,
    Health,
    Degraded,
)


def component_schemas() -> dict[str, Any]:
    """JSON Schemas of every model (and what they use), keyed by model name."""
    _, top = models_json_schema(
        [(model, "serialization") for model in MODELS],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = top["$defs"]
    return schemas


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}
