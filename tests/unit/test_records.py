"""What travels on the backbone: record header names, typed events and their encoding."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import typing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exchange import records
from exchange.egress.http import ATTEMPT_HEADER
from exchange.envelope import HEADER_PREFIX, HEADERS, Envelope
from exchange.ingress import answers
from exchange.pipeline.deadletter import from_record
from exchange.records import headers as h
from exchange.records.events import (
    KINDS,
    Accepted,
    BreakerChanged,
    DeadLettered,
    Delivered,
    Destination,
    Discarded,
    Event,
    Failed,
    Rejected,
    Replayed,
    Routed,
    UnreadableEvent,
    decode,
    encode,
)
from exchange.records.status import DeliveryStatus, EventKind, MessageStatus

EXCHANGE = Path(__file__).resolve().parents[2] / "exchange"
ID = "9d025305-f431-5a45-8b6d-303ee00169cb"
AT = datetime(2026, 12, 2, 3, 44, 18, 995907, tzinfo=UTC)
ENVELOPE = Envelope.new(
    sender="samr-reg",
    message_type="samr.EnterpriseRegistration",
    message_id="order-1",
    schema_version="1.0",
)

# One of each kind, with optional fields both present and absent.
EXAMPLES: list[Event] = [
    Accepted.of(ENVELOPE, size=2712, via="soap"),
    Accepted(
        id=ID,
        at=AT,
        sender="samr-reg",
        message_id="order-1",
        correlation_id=ID,
        message_type="{urn:x}Root",
        schema_version=None,
        size=0,
        via="rest",
    ),
    Rejected.of(ENVELOPE, size=99, status=422, reason="line 3: 名称 is not expected"),
    Routed(
        id=ID,
        destinations=(
            Destination(
                endpoint="tax-bureau",
                route="fan-out",
                adapters=("samr-to-canonical", "canonical-to-tax"),
            ),
            Destination(endpoint="social-security", route="fan-out"),
        ),
    ),
    Delivered(
        id=ID,
        attempt=2,
        status=202,
        elapsed_ms=12.5,
        endpoint="tax-bureau",
        route="fan-out",
        adapters=("a",),
    ),
    Failed(
        id=ID,
        attempt=1,
        error="connection refused",
        status=None,
        retrying=True,
        endpoint="tax-bureau",
        route="fan-out",
        adapters=(),
    ),
    DeadLettered(
        id=ID,
        stage="deliver",
        reason="after 3 attempts: HTTP 503",
        dead_letter="d-1",
        endpoint="tax-bureau",
        attempt=3,
    ),
    DeadLettered(id=ID, stage="route", reason="cannot route", dead_letter="d-2"),
    Replayed(id=ID, dead_letter="d-1", topic="inbound"),
    Replayed(id=ID, dead_letter="d-2", topic="deliver.tax-bureau", endpoint="tax-bureau"),
    Replayed(id=ID, dead_letter="d-3", topic="inbound", by="demo-operator"),
    Discarded(
        id=ID, dead_letter="d-1", by="demo-operator", reason="发送重复", endpoint="tax-bureau"
    ),
    Discarded(id=ID, dead_letter="d-2", by="demo-operator", reason="not ours"),
    # What the traffic aggregates read: who sent it, its type, its end-to-end time.
    Delivered(
        id=ID,
        attempt=1,
        status=200,
        elapsed_ms=3.5,
        endpoint="tax-bureau",
        route="fan-out",
        adapters=(),
        sender="samr-reg",
        message_type="samr.EnterpriseRegistration",
        e2e_ms=48.25,
    ),
    BreakerChanged.of("tax-bureau", "open", 5, "HTTP 503: down for maintenance"),
    BreakerChanged.of("tax-bureau", "closed", 0, None),
]

# Events as the hub wrote them before events were typed (exchange/pipeline/events.py's
# ``event``: json.dumps(..., ensure_ascii=False)), one of each kind.
_OLD = f'"id": "{ID}", "at": "2026-12-02T03:44:18.995907+00:00"'
WRITTEN_BEFORE = {
    "accepted": (
        f'{{"event": "accepted", {_OLD}, "sender": "samr-reg", "message_id": "order-1", '
        f'"correlation_id": "{ID}", "message_type": "samr.EnterpriseRegistration", '
        '"schema_version": "1.0", "size": 2712, "via": "soap"}'
    ),
    "rejected": (
        f'{{"event": "rejected", {_OLD}, "sender": "samr-reg", "message_id": "order-1", '
        f'"correlation_id": "{ID}", "message_type": "samr.EnterpriseRegistration", '
        '"schema_version": "1.0", "size": 99, "status": 422, '
        '"reason": "line 3: 名称 is not expected"}'
    ),
    "routed": (
        f'{{"event": "routed", {_OLD}, "destinations": [{{"endpoint": "tax-bureau", '
        '"route": "fan-out", "adapters": ["samr-to-canonical", "canonical-to-tax"]}, '
        '{"endpoint": "social-security", "route": "fan-out", "adapters": []}]}'
    ),
    "delivered": (
        f'{{"event": "delivered", {_OLD}, "attempt": 2, "status": 202, "elapsed_ms": 12.5, '
        '"endpoint": "tax-bureau", "route": "fan-out", "adapters": ["a"]}'
    ),
    "failed": (
        f'{{"event": "failed", {_OLD}, "attempt": 1, "error": "connection refused", '
        '"status": null, "retrying": true, "endpoint": "tax-bureau", "route": "fan-out", '
        '"adapters": []}'
    ),
    "dead_lettered": (
        f'{{"event": "dead_lettered", {_OLD}, "stage": "deliver", '
        '"reason": "after 3 attempts: HTTP 503", "dead_letter": "d-1", '
        '"endpoint": "tax-bureau", "attempt": 3}'
    ),
    "dead_lettered by the router": (
        f'{{"event": "dead_lettered", {_OLD}, "stage": "route", "reason": "cannot route", '
        '"dead_letter": "d-2"}'
    ),
    "replayed": f'{{"event": "replayed", {_OLD}, "dead_letter": "d-1", "topic": "inbound"}}',
}


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_every_kind_of_event_comes_back_as_it_was_encoded(event: Event) -> None:
    back = decode(encode(event))
    assert back == event
    assert type(back) is type(event)


def test_every_event_kind_has_its_class() -> None:
    assert set(KINDS) == set(EventKind)
    assert {type(e) for e in EXAMPLES} == set(KINDS.values())


@pytest.mark.parametrize("name", WRITTEN_BEFORE)
def test_an_event_written_before_events_were_typed_decodes(name: str) -> None:
    old = WRITTEN_BEFORE[name].encode()
    event = decode(old)
    assert event.kind == json.loads(old)["event"]
    assert (event.id, event.at) == (ID, AT)
    # ... and encodes to the same JSON: a hub rolled back reads what this one wrote.
    assert json.loads(encode(event)) == json.loads(old)


def test_old_events_decode_to_their_fields() -> None:
    routed = decode(WRITTEN_BEFORE["routed"].encode())
    assert isinstance(routed, Routed)
    assert routed.destinations[0].adapters == ("samr-to-canonical", "canonical-to-tax")
    assert routed.destinations[1] == Destination(endpoint="social-security", route="fan-out")
    failed = decode(WRITTEN_BEFORE["failed"].encode())
    assert isinstance(failed, Failed)
    assert (failed.status, failed.retrying, failed.adapters) == (None, True, ())
    by_router = decode(WRITTEN_BEFORE["dead_lettered by the router"].encode())
    assert isinstance(by_router, DeadLettered)
    assert (by_router.endpoint, by_router.attempt) == (None, None)


def test_fields_left_out_when_none_stay_out_and_the_others_are_written_as_null() -> None:
    (by_router,) = [e for e in EXAMPLES if isinstance(e, DeadLettered) and e.endpoint is None]
    assert set(json.loads(encode(by_router))) == {
        "event",
        "id",
        "at",
        "stage",
        "reason",
        "dead_letter",
    }
    (failed,) = [e for e in EXAMPLES if isinstance(e, Failed)]
    assert json.loads(encode(failed))["status"] is None


def test_an_event_keeps_non_ascii_text_as_utf8() -> None:
    (rejected,) = [e for e in EXAMPLES if isinstance(e, Rejected)]
    assert "名称".encode() in encode(rejected)


def test_fields_of_a_later_version_are_ignored() -> None:
    body = json.loads(WRITTEN_BEFORE["delivered"])
    body["receiver_trace_id"] = "abc"
    event = decode(json.dumps(body).encode())
    assert isinstance(event, Delivered) and event.attempt == 2


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b"{not json", "JSON"),
        (b"\xff\xfe", "JSON"),
        (b"[1, 2]", "JSON object"),
        (f'{{"event": "teleported", {_OLD}}}'.encode(), "unknown event kind 'teleported'"),
        (f"{{{_OLD}}}".encode(), "unknown event kind None"),
        (f'{{"event": "replayed", {_OLD}, "topic": "inbound"}}'.encode(), "dead_letter"),
        (b'{"event": "replayed", "id": "x", "dead_letter": "d", "topic": "t"}', "'at'"),
        (
            b'{"event": "replayed", "id": "x", "at": 5, "dead_letter": "d", "topic": "t"}',
            "a replayed event that cannot be read",
        ),
        (
            f'{{"event": "delivered", {_OLD}, "attempt": 1, "status": 200, "elapsed_ms": 1, '
            '"endpoint": "e", "route": "r", "adapters": "a,b"}'.encode(),
            "adapters is a list of names",
        ),
    ],
)
def test_what_is_not_an_event_is_unreadable(value: bytes, why: str) -> None:
    with pytest.raises(UnreadableEvent, match=re.escape(why)):
        decode(value)


def test_unreadable_is_a_value_error_the_indexer_sets_aside() -> None:
    assert issubclass(UnreadableEvent, ValueError)


def test_statuses_and_kinds_are_the_strings_the_store_and_the_answers_hold() -> None:
    assert MessageStatus.DEAD_LETTERED == "dead_lettered"
    assert json.dumps({"status": DeliveryStatus.RETRYING}) == '{"status": "retrying"}'
    assert f"{EventKind.ROUTED}" == "routed"
    # The OpenAPI document lists the same values as the enums.
    assert set(typing.get_args(answers.MessageStatus)) == set(MessageStatus)
    assert set(typing.get_args(answers.DeliveryStatus)) == set(DeliveryStatus)


def _constants() -> dict[str, str]:
    return {
        name: value
        for name, value in vars(h).items()
        if name.isupper() and isinstance(value, str) and value != h.PREFIX
    }


def test_every_record_header_is_under_the_prefix_and_named_once() -> None:
    names = _constants()
    assert h.PREFIX == HEADER_PREFIX == "x-exchange-"
    assert all(value.startswith(h.PREFIX) for value in names.values()), names
    assert len(set(names.values())) == len(names), "two constants share a header name"
    assert set(names.values()) == h.INTERNAL
    assert all(value == value.lower() for value in names.values())


def test_the_hubs_own_headers_are_not_the_envelopes_nor_a_receivers() -> None:
    envelope = set(HEADERS.values())
    assert all(name.startswith(h.PREFIX) for name in envelope)
    assert not h.INTERNAL & envelope
    # The HTTP header of the try being sent is not the retry record's next attempt.
    assert ATTEMPT_HEADER.lower() not in h.INTERNAL
    assert "x-exchange-duplicate" not in h.INTERNAL
    # An envelope read from a record takes none of them for one of its fields.
    every = {name: "1" for name in h.INTERNAL}
    assert Envelope.from_headers({**ENVELOPE.to_headers(), **every}) == ENVELOPE


def test_names_of_earlier_versions_are_read_as_todays() -> None:
    old = {HEADERS["id"]: ID, "x-exchange-attempt": "3", "x-dead-letter-stage": "deliver"}
    assert h.upgraded(old) == {
        HEADERS["id"]: ID,
        h.NEXT_ATTEMPT: "3",
        h.DEAD_LETTER_STAGE: "deliver",
    }
    current = {HEADERS["id"]: ID, h.NEXT_ATTEMPT: "3"}
    assert h.upgraded(current) is current
    assert set(h.LEGACY.values()) <= h.INTERNAL
    assert not set(h.LEGACY) & (h.INTERNAL | set(HEADERS.values()))


def test_a_dead_letter_written_by_an_earlier_version_reads_as_todays() -> None:
    headers = {
        **ENVELOPE.to_headers(),
        h.ROUTE: "fan-out",
        "x-dead-letter-id": "7f2259bf-fb44-4e64-810f-84c856776bd2",
        "x-dead-letter-stage": "deliver",
        "x-dead-letter-reason": "after 3 attempts: HTTP 503",
        "x-dead-letter-topic": "deliver.tax-bureau",
        "x-dead-letter-at": "2026-12-02T03:44:18.996148+00:00",
        "x-dead-letter-endpoint": "tax-bureau",
    }
    dead = from_record(headers, b"<x/>")
    assert (dead.id, dead.stage, dead.endpoint, dead.topic) == (
        "7f2259bf-fb44-4e64-810f-84c856776bd2",
        "deliver",
        "tax-bureau",
        "deliver.tax-bureau",
    )
    assert dead.reason == "after 3 attempts: HTTP 503"
    assert dead.message == ENVELOPE.id
    # What a replay publishes again: the envelope and the route, none of the old names.
    assert dead.headers == {**ENVELOPE.to_headers(), h.ROUTE: "fan-out"}


# Where a header name may be spelt out: the record headers' module and the envelope's, whose
# X-Exchange-* names are the public ones (README, "The REST contract").
_HEADER_MODULES = {EXCHANGE / "records" / "headers.py", EXCHANGE / "envelope.py"}
# A string that starts with the prefix, as the records' names are spelt (lower case): the
# public headers' capitalised spelling in HTTP code (X-Exchange-Attempt) is not one.
_LITERAL = re.compile(r"""(?<![\w-])[rbfu]*["']x-exchange-""")


def test_no_record_header_name_is_spelt_out_elsewhere() -> None:
    found = [
        f"{path.relative_to(EXCHANGE.parent)}:{number}: {line.strip()}"
        for path in sorted(EXCHANGE.rglob("*.py"))
        if path not in _HEADER_MODULES
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if _LITERAL.search(line)
    ]
    assert not found, "use exchange.records.headers or exchange.envelope.HEADERS:\n" + "\n".join(
        found
    )


def _imports(package: Path) -> dict[str, set[str]]:
    """The exchange modules each module of ``package`` imports (at any depth in the file)."""
    found: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text())
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[str(path.relative_to(EXCHANGE.parent))] = {
            n for n in names if n.startswith("exchange")
        }
    return found


def test_the_store_does_not_import_the_pipeline() -> None:
    for module, names in _imports(EXCHANGE / "store").items():
        assert not [n for n in names if n.startswith("exchange.pipeline")], module


def test_records_sit_below_the_pipeline_the_store_and_the_backbone() -> None:
    allowed = ("exchange.records", "exchange.envelope")
    for module, names in _imports(EXCHANGE / "records").items():
        assert all(n.startswith(allowed) for n in names), (module, names)


@pytest.mark.parametrize(
    "module", ["exchange.pipeline.events", "exchange.store.fold", "exchange.records"]
)
def test_each_side_imports_first_in_a_fresh_interpreter(module: str) -> None:
    """An import cycle shows only when one of its modules is the first one imported."""
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=EXCHANGE.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_records_is_what_the_package_says() -> None:
    assert records.Delivered is Delivered
    assert records.headers is h
