"""Documents in the store: kept per hop, replaced by a new translation, dropped by retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from exchange.backbone.base import ConsumedRecord
from exchange.backbone.topics import INBOUND, delivery_topic
from exchange.pipeline.documents import document_of
from exchange.records import headers as h
from exchange.store import Store, StoreRetention
from exchange.store.document_retention import DocumentRetention
from exchange.store.documents import ORIGINAL, Document
from exchange.store.models import DocumentRow

from .conftest import Flow

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
ORIGINAL_BODY = "<Registration>南宁青禾</Registration>".encode()
TAX_BODY = b'<?xml version="1.0"?><TaxpayerRegistration xmlns="urn:tax"/>'


def _documents(message: str, at: datetime = T0) -> list[Document]:
    return [
        Document(message=message, endpoint=ORIGINAL, body=ORIGINAL_BODY, captured_at=at),
        Document(
            message=message,
            endpoint="tax-bureau",
            body=TAX_BODY,
            captured_at=at,
            route="to-tax",
            adapters=("samr-to-canonical", "canonical-to-tax"),
        ),
    ]


async def _count(store: Store) -> int:
    async with store.engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(DocumentRow)) or 0)


async def test_each_hop_is_kept_and_read_back_as_it_travelled(store: Store) -> None:
    await store.documents.write(_documents("m-1"))

    listed = await store.documents.listed("m-1")
    assert [(d.endpoint, d.size_bytes) for d in listed] == [
        (ORIGINAL, len(ORIGINAL_BODY)),
        ("tax-bureau", len(TAX_BODY)),
    ]
    assert listed[1].adapters == ("samr-to-canonical", "canonical-to-tax")
    assert listed[1].route == "to-tax"
    assert listed[1].captured_at == T0
    original = await store.documents.get("m-1", ORIGINAL)
    assert original is not None and original.body == ORIGINAL_BODY
    assert await store.documents.get("m-1", "social-security") is None
    assert await store.documents.listed("m-2") == []


async def test_a_new_translation_replaces_the_copy_an_endpoint_got(store: Store) -> None:
    await store.documents.write(_documents("m-1"))
    again = Document(
        message="m-1", endpoint="tax-bureau", body=b"<Fixed/>", captured_at=T0 + timedelta(1)
    )
    # The same record twice in one batch (consumed again after a restart) is one row.
    await store.documents.write([again, again])

    kept = await store.documents.get("m-1", "tax-bureau")
    assert kept is not None and kept.body == b"<Fixed/>"
    assert await _count(store) == 2


async def test_large_bodies_are_stored_compressed(store: Store) -> None:
    body = b"<Doc>" + b"<Line>same text again</Line>" * 400 + b"</Doc>"
    await store.documents.write(
        [Document(message="m-1", endpoint=ORIGINAL, body=body, captured_at=T0)]
    )
    async with store.engine.connect() as connection:
        stored = await connection.scalar(select(func.length(DocumentRow.body)))
    assert stored is not None and stored < len(body) / 10
    kept = await store.documents.get("m-1", ORIGINAL)
    assert kept is not None and kept.body == body
    # A small one, as most are, is kept as it is: compressing it costs more than it saves.
    await store.documents.write(_documents("m-2"))
    async with store.engine.connect() as connection:
        small = await connection.scalar(
            select(DocumentRow.body).where(DocumentRow.message == "m-2", DocumentRow.endpoint == "")
        )
    assert small == ORIGINAL_BODY


async def test_document_retention_drops_what_was_captured_before_its_cut_off(
    store: Store,
) -> None:
    await store.documents.write(_documents("old", T0) + _documents("new", T0 + timedelta(days=6)))
    retention = DocumentRetention(store.engine, 5 * 86_400_000, batch=1)

    deleted = await retention.sweep(now=T0 + timedelta(days=7))

    assert deleted == 2
    assert await store.documents.listed("old") == []
    assert len(await store.documents.listed("new")) == 2


async def test_store_retention_deletes_the_documents_of_the_messages_it_deletes(
    store: Store,
) -> None:
    flow = Flow("gone")
    await store.index.apply(
        [flow.accepted(), flow.routed("tax-bureau"), flow.delivered("tax-bureau")], []
    )
    await store.documents.write(_documents(flow.id, datetime.now(UTC)))

    swept = await StoreRetention(store.engine, 1000).sweep(now=datetime.now(UTC) + timedelta(1))

    assert swept.messages == 1
    assert swept.documents == 2
    assert await store.documents.listed(flow.id) == []


def _record(topic: str, headers: dict[str, str], value: bytes = b"<X/>") -> ConsumedRecord:
    return ConsumedRecord(
        topic=topic,
        partition=0,
        offset=0,
        value=value,
        key=None,
        headers=headers,
        timestamp=0.0,
    )


def test_records_say_which_document_they_carry() -> None:
    original = document_of(_record(INBOUND, {"x-exchange-id": "m-1"}), T0)
    assert original is not None and original.endpoint == ORIGINAL and original.body == b"<X/>"

    translated = document_of(
        _record(
            delivery_topic("tax-bureau"),
            {
                "x-exchange-id": "m-1",
                h.ENDPOINT: "tax-bureau",
                h.ROUTE: "to-tax",
                h.ADAPTERS: "a,b",
            },
        ),
        T0,
    )
    assert translated is not None
    assert (translated.endpoint, translated.route, translated.adapters) == (
        "tax-bureau",
        "to-tax",
        ("a", "b"),
    )
    # A payload that could not be had (claim check) is no document.
    lost = {"x-exchange-id": "m-1", h.CLAIM_ERROR: "payload changed"}
    assert document_of(_record(INBOUND, lost, b""), T0) is None
    assert document_of(_record(INBOUND, {}), T0) is None
