"""The envelope: who sent a message, what it is, and how to find it again.

The payload is the XML document itself and travels unchanged; the envelope
travels beside it (HTTP headers on REST, record headers on the backbone).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

# Hub ids are derived from (sender, sender's message id), so a resubmission
# maps to the same hub id on any process: the basis of idempotent submission.
_HUB_ID_NAMESPACE = uuid.UUID("6f1d7c64-5a8e-4e0b-9a55-3c0c2f0b7e21")

# The prefix of the envelope's headers, the public X-Exchange-* ones, which the hub's own
# record headers share (exchange/records/headers.py).
HEADER_PREFIX = "x-exchange-"

# A sender's message and correlation ids travel as HTTP headers to every receiver, as
# Kafka keys and as indexed columns: visible ASCII only (no spaces, no control or
# non-ASCII characters, which HTTP headers cannot carry reliably), and short.
MAX_ID_LENGTH = 128
ID_CHARACTERS = "[!-~]+"  # visible ASCII, 0x21-0x7E (a regular expression; OpenAPI's too)
_VISIBLE_ASCII = re.compile(ID_CHARACTERS)


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a sender's message or correlation id (None: it can)."""
    if not value:
        return "is empty"
    if len(value) > MAX_ID_LENGTH:
        return f"is {len(value)} characters long, over the limit of {MAX_ID_LENGTH}"
    if _VISIBLE_ASCII.fullmatch(value) is None:
        bad = next(c for c in value if not ("\x21" <= c <= "\x7e"))
        return f"holds {bad!r} (U+{ord(bad):04X}): only visible ASCII characters are allowed"
    return None


def hub_id_for(sender: str, message_id: str) -> str:
    """The hub's id of the message that ``sender`` calls ``message_id``."""
    return str(uuid.uuid5(_HUB_ID_NAMESPACE, f"{sender}\x00{message_id}"))


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Envelope:
    """Header fields of one message (see the REST contract in README.md)."""

    id: str
    sender: str
    message_id: str
    message_type: str
    correlation_id: str
    created_at: str = field(default_factory=lambda: utc_now().isoformat())
    schema_version: str | None = None
    priority: int = 5
    classification: str = "unclassified"

    @classmethod
    def new(
        cls,
        *,
        sender: str,
        message_type: str,
        message_id: str | None = None,
        correlation_id: str | None = None,
        schema_version: str | None = None,
    ) -> Envelope:
        message_id = message_id or str(uuid.uuid4())
        hub_id = hub_id_for(sender, message_id)
        return cls(
            id=hub_id,
            sender=sender,
            message_id=message_id,
            message_type=message_type,
            correlation_id=correlation_id or hub_id,
            schema_version=schema_version,
        )

    def to_headers(self) -> dict[str, str]:
        """Envelope as flat string headers (backbone records, outbound HTTP)."""
        # Built field by field: dataclasses.asdict deep-copies and costs ~15 µs a call.
        headers = {}
        for name, header in _HEADER_NAMES:
            value = getattr(self, name)
            if value is not None:
                headers[header] = str(value)
        return headers

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Envelope:
        values: dict[str, Any] = {}
        for name, value in headers.items():
            if name.startswith(HEADER_PREFIX):
                values[name[len(HEADER_PREFIX) :].replace("-", "_")] = value
        if "priority" in values:
            values["priority"] = int(values["priority"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})

    def with_type(self, message_type: str, schema_version: str | None) -> Envelope:
        return replace(self, message_type=message_type, schema_version=schema_version)


_HEADER_NAMES = tuple(
    (f.name, f"{HEADER_PREFIX}{f.name.replace('_', '-')}") for f in fields(Envelope)
)
# Each field's header ("message_id": "x-exchange-message-id"): the X-Exchange-* names of the
# REST contract (lower case, as HTTP servers hand them over), on records and to receivers alike.
HEADERS: dict[str, str] = dict(_HEADER_NAMES)
