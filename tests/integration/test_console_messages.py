"""The console's Messages API against a real demo hub: search by every filter, paging,
one message's timeline, each destination's document as that receiver got it, and a
document dropped by retention saying so."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.console import SAMPLE, ConsoleHub, send, start_console_hub
from tests.harness import SAMR_SAMPLES
from tools.kafka_broker import KafkaCluster

pytestmark = pytest.mark.slow

# Each receiver's own format, told apart by its namespace.
NAMESPACES = {
    "tax-bureau": "urn:cn:gov:chinatax:taxpayer-registration:1",
    "social-security": "urn:cn:gov:mohrss:employer-registration:1",
    "legal-entity-registry": "urn:cn:gov:exchange:canonical:legal-entity:1",
}
ORIGINAL_NAMESPACE = "urn:cn:gov:samr:enterprise-registration:1"


def _wait(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not so within {timeout} s: {check}")
        time.sleep(0.1)


def _signed_in(hub: ConsoleHub, key: str) -> httpx.Client:
    client = httpx.Client(base_url=hub.url, timeout=15)
    answer = client.post("/console/api/session", json={"key": key})
    assert answer.status_code == 200, answer.text
    return client


def _settled(client: httpx.Client, hub_id: str) -> dict[str, Any] | None:
    """The message's page once it is delivered and every document is kept."""
    answer = client.get(f"/console/api/messages/{hub_id}")
    if answer.status_code != 200:
        return None
    page: dict[str, Any] = answer.json()
    if page["message"]["status"] != "delivered" or not all(d["kept"] for d in page["documents"]):
        return None
    return page


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleHub]:
    started = start_console_hub(Path(tmp_path_factory.mktemp("console-messages")))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def client(hub: ConsoleHub) -> Iterator[httpx.Client]:
    signed_in = _signed_in(hub, hub.viewer_key)  # looking needs no operator
    try:
        yield signed_in
    finally:
        signed_in.close()


@pytest.fixture(scope="module")
def sent(hub: ConsoleHub, client: httpx.Client) -> dict[str, str]:
    """Three delivered messages, two of one correlation id; message id -> hub id."""
    before = datetime.now(UTC)
    other = (SAMR_SAMPLES / "valid" / "guangzhou-nansha-yuanfan-supply-chain.xml").read_bytes()
    ids = {
        "search-a": send(hub, message_id="search-a", correlation_id="case-search"),
        "search-b": send(hub, message_id="search-b", correlation_id="case-search", body=other),
        "search-c": send(hub, message_id="search-c"),
    }
    for hub_id in ids.values():
        _wait(lambda hub_id=hub_id: _settled(client, hub_id))
    ids["before"] = before.isoformat()
    return ids


def _search(client: httpx.Client, **query: Any) -> list[str]:
    answer = client.get("/console/api/messages", params=query)
    assert answer.status_code == 200, answer.text
    return [row["message_id"] for row in answer.json()["messages"]]


def test_search_finds_messages_by_each_filter(client: httpx.Client, sent: dict[str, str]) -> None:
    assert _search(client, message_id="search-b") == ["search-b"]
    assert _search(client, id=sent["search-c"]) == ["search-c"]
    assert _search(client, correlation_id="case-search") == ["search-b", "search-a"]
    mine = {"since": sent["before"]}
    assert _search(client, sender="samr-reg", **mine) == ["search-c", "search-b", "search-a"]
    assert _search(client, message_type="samr.EnterpriseRegistration", status="delivered", **mine)[
        :3
    ] == ["search-c", "search-b", "search-a"]
    assert _search(client, endpoint="tax-bureau", **mine) == ["search-c", "search-b", "search-a"]
    assert _search(client, status="dead_lettered", **mine) == []
    assert _search(client, sender="legal-entity-registry", **mine) == []
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert _search(client, since=later) == []
    assert _search(client, until=sent["before"], message_id="search-a") == []


def test_a_row_says_where_the_message_went(client: httpx.Client, sent: dict[str, str]) -> None:
    answer = client.get("/console/api/messages", params={"message_id": "search-a"}).json()
    (row,) = answer["messages"]
    assert row["id"] == sent["search-a"]
    assert row["sender"] == "samr-reg"
    assert row["correlation_id"] == "case-search"
    assert row["status"] == "delivered"
    assert row["endpoints"] == sorted(NAMESPACES)
    assert datetime.fromisoformat(row["received_at"]) >= datetime.fromisoformat(sent["before"])
    assert "tax-bureau" in answer["choices"]["endpoints"]
    assert "dead_lettered" in answer["choices"]["statuses"]


def test_pages_follow_the_cursor(client: httpx.Client, sent: dict[str, str]) -> None:
    first = client.get(
        "/console/api/messages", params={"correlation_id": "case-search", "limit": 1}
    )
    body = first.json()
    assert [row["message_id"] for row in body["messages"]] == ["search-b"]
    second = client.get(
        "/console/api/messages",
        params={"correlation_id": "case-search", "limit": 1, "cursor": body["next_cursor"]},
    ).json()
    assert [row["message_id"] for row in second["messages"]] == ["search-a"]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"status": "lost"}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"limit": "5000"}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(
    client: httpx.Client, query: dict[str, str], named: str
) -> None:
    answer = client.get("/console/api/messages", params=query)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert named in answer.json()["detail"]


def test_only_console_users_see_messages_and_documents(
    hub: ConsoleHub, sent: dict[str, str]
) -> None:
    hub_id = sent["search-a"]
    for path in (
        "/console/api/messages?message_id=search-a",
        f"/console/api/messages/{hub_id}",
        f"/console/api/messages/{hub_id}/documents/original",
    ):
        answer = httpx.get(hub.url + path, timeout=10)  # no session
        assert answer.status_code == 401, path
        # A sender's key is no console session either.
        answer = httpx.get(
            hub.url + path, headers={"Authorization": "Bearer demo-key-samr-reg"}, timeout=10
        )
        assert answer.status_code == 401, path


def test_the_timeline_shows_each_translation_and_attempt(
    client: httpx.Client, sent: dict[str, str]
) -> None:
    page = client.get(f"/console/api/messages/{sent['search-a']}").json()
    assert page["message"]["message_id"] == "search-a"
    steps = page["timeline"]
    assert [s["step"] for s in steps[:2]] == ["accepted", "routed"]
    assert steps[0]["since_previous_ms"] is None and steps[0]["tone"] == "ok"
    chains = {d["endpoint"]: d["adapters"] for d in steps[1]["destinations"]}
    assert chains == {
        "tax-bureau": ["samr-to-canonical", "canonical-to-tax"],
        "legal-entity-registry": ["samr-to-canonical"],
        "social-security": ["samr-to-canonical", "canonical-to-hrss"],
    }
    delivered = {s["endpoint"]: s for s in steps if s["step"] == "delivered"}
    assert set(delivered) == set(NAMESPACES)
    assert all(s["attempt"] == 1 and s["status"] == 200 for s in delivered.values())
    assert all(s["since_previous_ms"] >= 0 for s in steps[1:])
    assert [d["endpoint"] for d in page["deliveries"]] == sorted(NAMESPACES)


def test_each_destination_has_the_document_that_receiver_got(
    hub: ConsoleHub, client: httpx.Client, sent: dict[str, str]
) -> None:
    hub_id = sent["search-a"]
    page = client.get(f"/console/api/messages/{hub_id}").json()
    documents = {d["name"]: d for d in page["documents"]}
    assert list(documents) == ["original", *sorted(NAMESPACES)]
    assert documents["original"]["format"] == "samr.EnterpriseRegistration"
    assert documents["tax-bureau"]["format"] == "tax.TaxpayerRegistration"
    assert documents["tax-bureau"]["adapters"] == ["samr-to-canonical", "canonical-to-tax"]

    original = client.get(f"/console/api/messages/{hub_id}/documents/original?download=1")
    assert original.status_code == 200
    assert original.content == SAMPLE.read_bytes()  # byte for byte as the sender sent it
    assert original.headers["content-disposition"] == (
        'attachment; filename="search-a-original.xml"'
    )
    assert documents["original"]["size_bytes"] == len(SAMPLE.read_bytes())

    for endpoint, namespace in NAMESPACES.items():
        shown = client.get(f"/console/api/messages/{hub_id}/documents/{endpoint}")
        assert shown.status_code == 200
        assert shown.headers["content-type"] == "text/plain; charset=utf-8"
        assert "sandbox" in shown.headers["content-security-policy"]
        assert namespace in shown.text
        others = {*NAMESPACES.values(), ORIGINAL_NAMESPACE} - {namespace}
        assert not any(other in shown.text for other in others), endpoint
        assert "\n  <" in shown.text  # indented for reading
    # What a REST receiver got is what the page offers for download.
    inbox = httpx.get(f"{hub.demo_url}/demo-receivers/social-security/inbox", timeout=10).json()
    got = next(d["document"] for d in inbox["last"] if d["id"] == hub_id)
    download = client.get(f"/console/api/messages/{hub_id}/documents/social-security?download=1")
    assert download.content.decode() == got


def test_an_unknown_message_or_document_is_a_404_saying_what_to_do(
    client: httpx.Client, sent: dict[str, str]
) -> None:
    answer = client.get("/console/api/messages/no-such-id")
    assert answer.status_code == 404
    assert "sender's message id" in answer.json()["detail"]
    answer = client.get(f"/console/api/messages/{sent['search-a']}/documents/nowhere")
    assert answer.status_code == 404
    assert "no destination 'nowhere'" in answer.json()["detail"]


def test_a_document_dropped_by_retention_says_so(tmp_path: Path) -> None:
    # Kept for a millisecond: the first retention pass after a start drops them.
    hub = start_console_hub(tmp_path, env={"EXCHANGE_DOCUMENT_RETENTION_MS": "1"})
    try:
        hub_id = send(hub, message_id="short-lived")
        client = _signed_in(hub, hub.operator_key)

        def dropped() -> dict[str, Any] | None:
            answer = client.get(f"/console/api/messages/{hub_id}")
            if answer.status_code != 200:
                return None
            page: dict[str, Any] = answer.json()
            if page["message"]["status"] != "delivered" or len(page["documents"]) != 4:
                return None
            return page if not any(d["kept"] for d in page["documents"]) else None

        _wait(lambda: _settled(client, hub_id))  # kept first ...
        page = _wait(dropped, timeout=90)  # ... until a pass (5 s after start, then each minute)
        assert {d["why_code"] for d in page["documents"]} == {"dropped"}
        assert "EXCHANGE_DOCUMENT_RETENTION_MS" in page["documents"][0]["why"]
        assert page["document_retention_ms"] == 1
        answer = client.get(f"/console/api/messages/{hub_id}/documents/tax-bureau")
        assert answer.status_code == 404
        assert "dropped" in answer.json()["detail"]
        client.close()
    finally:
        hub.stop()


def test_documents_are_kept_on_kafka_too_even_by_claim_check(
    kafka_broker: KafkaCluster, tmp_path: Path
) -> None:
    record_limit = 64 * 1024
    hub = start_console_hub(
        tmp_path,
        env={
            "EXCHANGE_BACKBONE": f"kafka://{kafka_broker.bootstrap}",
            "EXCHANGE_KAFKA_PREFIX": f"documents-{uuid.uuid4().hex[:8]}.",
            "EXCHANGE_KAFKA_MAX_RECORD_BYTES": str(record_limit),
        },
    )
    try:
        # The same valid document, padded by a comment past a record: it travels by claim check.
        head, _, rest = SAMPLE.read_bytes().partition(b"?>")
        padding = b"<!--" + b"attachment index " * (2 * record_limit // 17) + b"-->"
        large = head + b"?>" + padding + rest
        hub_ids = [
            send(hub, message_id="kafka-small"),
            send(hub, message_id="kafka-large", body=large),
        ]
        client = _signed_in(hub, hub.viewer_key)
        for hub_id in hub_ids:
            page = _wait(lambda hub_id=hub_id: _settled(client, hub_id), timeout=60)
            assert [d["name"] for d in page["documents"]] == ["original", *sorted(NAMESPACES)]
        original = client.get(f"/console/api/messages/{hub_ids[1]}/documents/original?download=1")
        assert original.content == large
        client.close()
    finally:
        hub.stop()
