"""One message's page: the timeline's gaps and tones, each hop's document or why it is missing,
and documents shown as indented text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from exchange.console import message_view
from exchange.console.document_text import pretty
from exchange.store.documents import ORIGINAL, DocumentInfo

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
WEEK_MS = 7 * 86_400_000


def _at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def test_the_timeline_says_how_long_each_step_took_and_colours_it() -> None:
    trace = [
        {"at": _at(0), "step": "accepted", "via": "rest"},
        {"at": _at(0.25), "step": "routed", "destinations": []},
        {"at": _at(1), "step": "failed", "endpoint": "tax", "retrying": True},
        {"at": _at(3), "step": "failed", "endpoint": "tax", "retrying": False},
        {"at": _at(3), "step": "dead_lettered", "endpoint": "tax"},
        {"at": _at(60), "step": "replayed", "endpoint": "tax", "by": "ops-li"},
        {"at": _at(61), "step": "delivered", "endpoint": "tax"},
        {"at": _at(62), "step": "something-new", "detail": 1},
    ]
    steps = message_view.timeline(trace)
    assert [s["since_previous_ms"] for s in steps] == [
        None, 250.0, 750.0, 2000.0, 0.0, 57000.0, 1000.0, 1000.0
    ]  # fmt: skip
    assert steps[-1]["since_start_ms"] == 62000.0
    assert [s["tone"] for s in steps] == ["ok", "info", "warn", "bad", "bad", "info", "ok", "info"]
    assert steps[5]["by"] == "ops-li"  # every field of the step is kept
    assert steps[-1]["detail"] == 1


def _message(status: str = "delivered", received: datetime = T0) -> dict[str, Any]:
    return {
        "id": "m-1",
        "status": status,
        "message_type": "samr.EnterpriseRegistration",
        "received_at": received.isoformat(),
        "deliveries": [
            {"endpoint": "tax-bureau", "status": "delivered", "route": "r", "adapters": ["a"]},
            {"endpoint": "registry", "status": "dead_lettered", "route": "r", "adapters": []},
        ],
    }


def _listed(message: dict[str, Any], kept: list[DocumentInfo], retention: int = WEEK_MS,
            now: datetime = T0 + timedelta(hours=1)) -> dict[str, dict[str, Any]]:  # fmt: skip
    documents = message_view.documents(
        message,
        kept,
        formats={"tax-bureau": "tax.TaxpayerRegistration"},
        retention_ms=retention,
        now=now,
    )
    return {d["name"]: d for d in documents}


def _info(endpoint: str) -> DocumentInfo:
    return DocumentInfo(endpoint=endpoint, size_bytes=10, captured_at=T0, route="r", adapters=())


def test_each_hop_is_listed_kept_or_with_why_not() -> None:
    listed = _listed(_message("dead_lettered"), [_info(ORIGINAL), _info("tax-bureau")])
    assert list(listed) == ["original", "registry", "tax-bureau"]
    assert listed["original"]["kept"] and listed["original"]["endpoint"] is None
    assert listed["original"]["format"] == "samr.EnterpriseRegistration"
    assert listed["tax-bureau"]["format"] == "tax.TaxpayerRegistration"
    assert listed["tax-bureau"]["size_bytes"] == 10
    assert not listed["registry"]["kept"]
    assert listed["registry"]["why_code"] == "not_made"


@pytest.mark.parametrize(
    ("message", "retention", "now", "code", "says"),
    [
        (_message(), 0, T0, "none_kept", "EXCHANGE_DOCUMENT_RETENTION_MS=0"),
        (_message(), WEEK_MS, T0 + timedelta(days=8), "dropped", "kept 7 days"),
        (_message(), 3_600_000, T0 + timedelta(hours=2), "dropped", "kept 1 hour(s)"),
        (_message("rejected"), WEEK_MS, T0, "rejected", "never passed the front door"),
        (_message(), WEEK_MS, T0 + timedelta(seconds=1), "pending", "reload in a moment"),
        (_message(), -1, T0 + timedelta(days=80), "pending", "catching up"),
    ],
)
def test_a_missing_document_says_why(
    message: dict[str, Any], retention: int, now: datetime, code: str, says: str
) -> None:
    original = _listed(message, [], retention, now)["original"]
    assert original["why_code"] == code
    assert says in original["why"]


def test_documents_are_shown_indented_and_as_text() -> None:
    body = '<?xml version="1.0" encoding="GB18030"?><a xmlns="urn:x"><b>税务</b><c/></a>'
    shown = pretty(body.encode("gb18030"))
    assert shown == (
        '<?xml version="1.0" encoding="UTF-8"?>\n<a xmlns="urn:x">\n  <b>税务</b>\n  <c/>\n</a>\n'
    )
    # Bytes that do not parse are shown as they are (decoded), never dropped.
    assert pretty(b"<a><b></a>") == "<a><b></a>"
