"""Tables of the store: an index of messages and the audit trail of what happened to them.

The backbone is the source of truth for messages in flight; everything here is
written from the events the pipeline publishes (see exchange/pipeline/indexer.py),
so the store can lag a little behind but never disagrees for long.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from exchange.store.latency import BUCKETS as LATENCY_BUCKETS


class UtcDateTime(TypeDecorator[datetime]):
    """A point in time, stored as UTC and always read back as an aware UTC datetime.

    SQLite has no time-zone type: a plain ``DateTime(timezone=True)`` keeps only the
    wall-clock digits there and reads back naive datetimes, so the same query said
    "+00:00" on PostgreSQL and nothing on SQLite, and a non-UTC offset would be stored
    as if it were UTC.  Converting on the way in and marking on the way out makes the
    backends agree.  A naive value is taken to be UTC, as everywhere in the hub.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class SenderRow(Base):
    """A sender identity: an agency's system that may submit messages."""

    __tablename__ = "senders"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ApiKeyRow(Base):
    """A bearer key of one sender; only the SHA-256 of the key is kept."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    sender: Mapped[str] = mapped_column(ForeignKey("senders.code"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # "sender" keys submit messages; "operator" keys also read any trace and replay;
    # "viewer" keys read any trace and the console, and may not replay
    role: Mapped[str] = mapped_column(String(16), default="sender")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class MessageRow(Base):
    __tablename__ = "messages"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sender: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(200))
    correlation_id: Mapped[str] = mapped_column(String(200), index=True)
    message_type: Mapped[str] = mapped_column(String(300))
    schema_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    __table_args__ = (
        UniqueConstraint("sender", "message_id", name="uq_sender_message_id"),
        # Store retention finds the final messages whose last change is old by walking this
        # index (exchange/store/retention.py): without it each pass read every delivered row.
        Index("ix_messages_status_updated_at", "status", "updated_at"),
        # The console's search (exchange/store/search.py): newest first within one sender,
        # type or status walks one of these backwards and stops after a page; a sender's
        # message id alone (without its sender) is found through the last one.
        Index("ix_messages_sender_received_at", "sender", "received_at"),
        Index("ix_messages_type_received_at", "message_type", "received_at"),
        Index("ix_messages_status_received_at", "status", "received_at"),
        Index("ix_messages_message_id", "message_id"),
    )


class StepRow(Base):
    """One step of a message's path: received, routed, delivered, failed, ..."""

    __tablename__ = "steps"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message: Mapped[str] = mapped_column(String(36))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    step: Mapped[str] = mapped_column(String(32))
    endpoint: Mapped[str | None] = mapped_column(String(100), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="{}")
    __table_args__ = (Index("ix_steps_message_seq", "message", "seq"),)


class DeliveryRow(Base):
    """Where one message stands with one destination endpoint."""

    __tablename__ = "deliveries"
    message: Mapped[str] = mapped_column(String(36), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(100), primary_key=True)
    route: Mapped[str] = mapped_column(String(200))
    adapters: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(32), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The console's search by receiver reads an endpoint's messages from here when it has
    # few of them (exchange/store/search.py).
    __table_args__ = (Index("ix_deliveries_endpoint_message", "endpoint", "message"),)


class DeadLetterRow(Base):
    """A message (or one destination's copy of it) that the hub gave up on, kept for replay."""

    __tablename__ = "dead_letters"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message: Mapped[str] = mapped_column(String(36), index=True)
    stage: Mapped[str] = mapped_column(String(16))  # "route" or "deliver"
    endpoint: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    topic: Mapped[str] = mapped_column(String(200))  # where a replay publishes it again
    headers: Mapped[str] = mapped_column(Text)  # JSON object
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    replayed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    replay_count: Mapped[int] = mapped_column(Integer, default=0)


class DeadLetterDiscardRow(Base):
    """An operator's decision to give up on a dead letter for good: who, when and why.

    A table of its own rather than columns of ``dead_letters``, so that a store an earlier
    version made gets it as a new table (the store creates missing tables, not columns).
    The dead letter stays, for the record; lists hide it unless asked.
    """

    __tablename__ = "dead_letter_discards"
    dead_letter: Mapped[str] = mapped_column(String(36), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)


class IndexFailureRow(Base):
    """A backbone record the indexer could not write, set aside so the others go on.

    Kept whole (topic, position, bytes, error) so that an operator can see what it was and
    why it failed; the message it belongs to may show a stale status until then.
    """

    __tablename__ = "index_failures"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    topic: Mapped[str] = mapped_column(String(200))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    message: Mapped[str | None] = mapped_column(String(36), nullable=True)
    error: Mapped[str] = mapped_column(Text)
    value: Mapped[bytes] = mapped_column(LargeBinary)


class ConsoleSessionRow(Base):
    """A signed-in console session; only the SHA-256 of its cookie token is kept.

    In the store rather than in memory, so that a front door's restart keeps operators
    signed in and every front door of a hub knows every session.
    """

    __tablename__ = "console_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16), index=True)  # api_keys.id
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


# The traffic aggregates (exchange/store/traffic.py): one row per bucket of time (``grain``
# seconds long, starting at ``bucket``, Unix seconds) and per (sender, message type, route,
# endpoint), each "" where the events counted do not know it.  The histogram columns count
# latencies in the fixed buckets of exchange/store/latency.py: ``e2e_NN`` accepted →
# delivered, ``in_NN`` the front door's own time.  Columns, not a JSON text, so that the
# indexer adds a batch to a row in one upsert and a query sums any range in SQL.
TRAFFIC_COUNTS = ("accepted", "rejected", "delivered", "failed", "dead_lettered", "replayed")
TRAFFIC_DIMENSIONS = ("sender", "message_type", "route", "endpoint")
E2E_COLUMNS = tuple(f"e2e_{i:02d}" for i in range(LATENCY_BUCKETS))
INGRESS_COLUMNS = tuple(f"in_{i:02d}" for i in range(LATENCY_BUCKETS))

traffic_table = Table(
    "traffic",
    Base.metadata,
    Column("grain", Integer, primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("sender", String(64), primary_key=True),
    Column("message_type", String(300), primary_key=True),
    Column("route", String(200), primary_key=True),
    Column("endpoint", String(100), primary_key=True),
    *(Column(name, Integer, nullable=False, default=0) for name in TRAFFIC_COUNTS),
    *(Column(name, Integer, nullable=False, default=0) for name in E2E_COLUMNS),
    *(Column(name, Integer, nullable=False, default=0) for name in INGRESS_COLUMNS),
)


class EndpointStateRow(Base):
    """An endpoint's circuit breaker as its delivery process last reported it."""

    __tablename__ = "endpoint_state"
    endpoint: Mapped[str] = mapped_column(String(100), primary_key=True)
    breaker: Mapped[str] = mapped_column(String(16))  # closed, open, half-open
    since: Mapped[datetime] = mapped_column(UtcDateTime())
    failures: Mapped[int] = mapped_column(Integer, default=0)  # retriable failures in a row
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class BacklogRow(Base):
    """Records waiting on an endpoint's topics, sampled once a second by the front door.

    ``grain`` as in the traffic table: a second's sample, and the largest of a minute's and
    an hour's, so that a chart of a month reads hundreds of rows, not millions.
    """

    __tablename__ = "backlog"
    grain: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(100), primary_key=True)
    deliver: Mapped[int] = mapped_column(Integer, default=0)
    retry: Mapped[int] = mapped_column(Integer, default=0)


class DocumentRow(Base):
    """A document as it stood at one hop: the original (``endpoint`` "") or what one
    destination was sent, kept for ``document_retention_ms`` (exchange/store/documents.py).

    ``body`` is as it travelled, or zlib-compressed if ``encoding`` says "zlib" (large ones);
    ``size_bytes`` is the document's own size.  ``captured_at`` is when it was taken from the
    backbone, which retention reads.
    """

    __tablename__ = "documents"
    message: Mapped[str] = mapped_column(String(36), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(100), primary_key=True)
    route: Mapped[str] = mapped_column(String(200), default="")
    adapters: Mapped[str] = mapped_column(Text, default="")
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    encoding: Mapped[str] = mapped_column(String(16), default="")
    body: Mapped[bytes] = mapped_column(LargeBinary)
    captured_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class SubscriptionRow(Base):
    """A department's request to receive a message type, and the operator's decision on it
    (exchange/store/subscriptions.py).  ``request`` is the request as given (JSON); ``file``
    the routes file an approval wrote, relative to the hub home."""

    __tablename__ = "subscriptions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscriber: Mapped[str] = mapped_column(String(64), index=True)
    message_type: Mapped[str] = mapped_column(String(300))
    format: Mapped[str] = mapped_column(String(300))
    request: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)  # requested/approved/rejected
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    file: Mapped[str | None] = mapped_column(String(500), nullable=True)
