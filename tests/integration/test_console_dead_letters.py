"""The console's dead-letter API against a real demo hub: the demo's legal-entity registry
refuses (HTTP 400) message ids starting with ``refuse-`` until it is fixed.

Replay the selected, replay all matching a confirmed count, discard with a reason; who did
it in the message's trace; viewers and requests without the CSRF token refused.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.browser.console import ConsoleHub, send, start_console_hub

pytestmark = pytest.mark.slow

REGISTRY = "legal-entity-registry"
T = TypeVar("T")


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleHub]:
    started = start_console_hub(Path(tmp_path_factory.mktemp("console-dead-letters")))
    try:
        yield started
    finally:
        started.stop()


def _signed_in(hub: ConsoleHub, key: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=hub.url, timeout=15)
    answer = client.post("/console/api/session", json={"key": key})
    assert answer.status_code == 200, answer.text
    csrf: str = answer.json()["csrf"]
    return client, csrf


@pytest.fixture
def operator(hub: ConsoleHub) -> Iterator[tuple[httpx.Client, str]]:
    client, csrf = _signed_in(hub, hub.operator_key)
    try:
        yield client, csrf
    finally:
        client.close()


@pytest.fixture
def viewer(hub: ConsoleHub) -> Iterator[tuple[httpx.Client, str]]:
    client, csrf = _signed_in(hub, hub.viewer_key)
    try:
        yield client, csrf
    finally:
        client.close()


@pytest.fixture
def refusing(hub: ConsoleHub) -> Iterator[Callable[[], None]]:
    """The registry refusing marked ids; the test calls the fixture's value to fix it."""
    demo = f"{hub.demo_url}/demo-receivers/{REGISTRY}"
    assert httpx.post(f"{demo}/refuse", timeout=5).json()["refusing"] is True

    def fix() -> None:
        assert httpx.post(f"{demo}/fix", timeout=5).json()["refusing"] is False

    yield fix
    httpx.post(f"{demo}/refuse", timeout=5)


def _until(what: str, check: Callable[[], T | None], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _dead_letters_of(
    client: httpx.Client, tag: str, count: int, **query: str
) -> list[dict[str, Any]]:
    """Wait for ``count`` dead letters whose reason names ``tag`` (the refused message id)."""

    def listed() -> list[dict[str, Any]] | None:
        answer = client.get("/console/api/dead-letters", params={"reason": tag, **query})
        assert answer.status_code == 200, answer.text
        rows: list[dict[str, Any]] = answer.json()["dead_letters"]
        return rows if len(rows) == count else None

    return _until(f"{count} dead letters of {tag}", listed)


def _count(client: httpx.Client, tag: str) -> int:
    """How many dead letters of ``tag`` a replay of that filter would replay."""
    answer = client.get("/console/api/dead-letters/count", params={"reason": tag})
    assert answer.status_code == 200, answer.text
    found: int = answer.json()["count"]
    return found


def _send_refused(hub: ConsoleHub, n: int) -> tuple[str, list[str]]:
    tag = f"refuse-{uuid.uuid4().hex[:10]}"
    return tag, [send(hub, message_id=f"{tag}-{i}") for i in range(n)]


def _message(hub: ConsoleHub, hub_id: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{hub.url}/v1/messages/{hub_id}",
        headers={"Authorization": f"Bearer {hub.operator_key}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def _status_becomes(hub: ConsoleHub, hub_id: str, status: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        message = _message(hub, hub_id)
        return message if message["status"] == status else None

    return _until(f"{hub_id} {status}", reached)


def test_a_refused_delivery_is_listed_and_replayed_by_the_operator_once_fixed(
    hub: ConsoleHub, operator: tuple[httpx.Client, str], refusing: Callable[[], None]
) -> None:
    client, csrf = operator
    tag, (first, second) = _send_refused(hub, 2)
    rows = _dead_letters_of(client, tag, 2, endpoint=REGISTRY)
    assert {r["message"] for r in rows} == {first, second}
    row = next(r for r in rows if r["message"] == first)
    assert row["stage"] == "deliver"
    assert row["endpoint"] == REGISTRY
    assert row["message_id"] == f"{tag}-0"
    assert row["replay_count"] == 0
    assert "400" in row["reason"]
    _status_becomes(hub, first, "dead_lettered")

    refusing()  # the receiver is fixed
    answer = client.post(
        "/console/api/dead-letters/replay",
        json={"ids": [row["id"]]},
        headers={"X-CSRF-Token": csrf},
    )
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"replayed": 1, "by": hub.operator_name}

    message = _status_becomes(hub, first, "delivered")
    step = next(s for s in message["trace"] if s["step"] == "replayed")
    assert step["by"] == hub.operator_name
    assert step["endpoint"] == REGISTRY
    # The other one was not selected: still waiting.
    assert [r["message"] for r in _dead_letters_of(client, tag, 1)] == [second]
    assert _message(hub, second)["status"] == "dead_lettered"


def test_replay_all_matching_replays_exactly_the_confirmed_count(
    hub: ConsoleHub, operator: tuple[httpx.Client, str], refusing: Callable[[], None]
) -> None:
    client, csrf = operator
    tag, ids = _send_refused(hub, 3)
    _dead_letters_of(client, tag, 3)
    assert _count(client, tag) == 3

    refusing()
    replay = "/console/api/dead-letters/replay"
    headers = {"X-CSRF-Token": csrf}
    # A count that is no longer true: refused, nothing replayed.
    stale = client.post(replay, json={"filter": {"reason": tag}, "expect": 2}, headers=headers)
    assert stale.status_code == 409, stale.text
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert stale.json()["count"] == 3
    assert "nothing was replayed" in stale.json()["detail"]
    assert _count(client, tag) == 3

    done = client.post(replay, json={"filter": {"reason": tag}, "expect": 3}, headers=headers)
    assert done.status_code == 202, done.text
    assert done.json()["replayed"] == 3
    for hub_id in ids:
        _status_becomes(hub, hub_id, "delivered")
    assert _count(client, tag) == 0
    replayed = client.get(
        "/console/api/dead-letters", params={"reason": tag, "include_replayed": "true"}
    ).json()["dead_letters"]
    assert {(r["replay_count"], r["replayed_at"] is not None) for r in replayed} == {(1, True)}


def test_discard_needs_a_reason_and_the_message_says_who_discarded_it(
    hub: ConsoleHub, operator: tuple[httpx.Client, str], refusing: Callable[[], None]
) -> None:
    client, csrf = operator
    tag, (hub_id,) = _send_refused(hub, 1)
    (row,) = _dead_letters_of(client, tag, 1)
    discard = "/console/api/dead-letters/discard"
    headers = {"X-CSRF-Token": csrf}

    blank = client.post(discard, json={"ids": [row["id"]], "reason": "  "}, headers=headers)
    assert blank.status_code == 400
    assert "reason" in blank.json()["detail"]

    answer = client.post(
        discard, json={"ids": [row["id"]], "reason": "sent by mistake"}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"discarded": 1, "by": hub.operator_name}
    # Hidden by default, kept for the record.
    assert _count(client, tag) == 0
    listed = client.get("/console/api/dead-letters", params={"reason": tag})
    assert listed.json()["dead_letters"] == []
    (kept,) = _dead_letters_of(client, tag, 1, include_discarded="true")
    assert kept["discarded"]["by"] == hub.operator_name
    assert kept["discarded"]["reason"] == "sent by mistake"

    message = _status_becomes(hub, hub_id, "discarded")
    step = message["trace"][-1]
    assert (step["step"], step["by"], step["reason"]) == (
        "discarded",
        hub.operator_name,
        "sent by mistake",
    )
    assert message["last_error"] == f"discarded by {hub.operator_name}: sent by mistake"

    refused = client.post(
        "/console/api/dead-letters/replay", json={"ids": [row["id"]]}, headers=headers
    )
    assert refused.status_code == 409
    assert "discarded" in refused.json()["detail"]
    unknown = client.post(
        "/console/api/dead-letters/replay", json={"ids": ["no-such-id"]}, headers=headers
    )
    assert unknown.status_code == 404


def test_a_viewer_sees_the_dead_letters_but_may_not_act(
    hub: ConsoleHub, viewer: tuple[httpx.Client, str], refusing: Callable[[], None]
) -> None:
    client, csrf = viewer
    tag, _ = _send_refused(hub, 1)
    (row,) = _dead_letters_of(client, tag, 1)
    headers = {"X-CSRF-Token": csrf}
    for path, body in (
        ("replay", {"ids": [row["id"]]}),
        ("replay", {"filter": {"reason": tag}, "expect": 1}),
        ("discard", {"ids": [row["id"]], "reason": "no"}),
    ):
        answer = client.post(f"/console/api/dead-letters/{path}", json=body, headers=headers)
        assert answer.status_code == 403, answer.text
        assert "viewers may look but not act" in answer.json()["detail"]
    assert _count(client, tag) == 1


def test_an_action_needs_the_sessions_csrf_token_and_a_session(
    hub: ConsoleHub, operator: tuple[httpx.Client, str], refusing: Callable[[], None]
) -> None:
    client, csrf = operator
    tag, _ = _send_refused(hub, 1)
    (row,) = _dead_letters_of(client, tag, 1)
    replay = "/console/api/dead-letters/replay"
    for headers in ({}, {"X-CSRF-Token": "not-the-token"}):
        answer = client.post(replay, json={"ids": [row["id"]]}, headers=headers)
        assert answer.status_code == 403, answer.text
        assert "X-CSRF-Token" in answer.json()["detail"]
    assert _count(client, tag) == 1

    with httpx.Client(base_url=hub.url, timeout=10) as stranger:
        assert stranger.get("/console/api/dead-letters").status_code == 401
        answer = stranger.post(replay, json={"ids": [row["id"]]}, headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 401
        # An operator key is not a session: the console's API wants the cookie.
        keyed = stranger.get(
            "/console/api/dead-letters", headers={"Authorization": f"Bearer {hub.operator_key}"}
        )
        assert keyed.status_code == 401


def test_a_bad_filter_is_named(hub: ConsoleHub, operator: tuple[httpx.Client, str]) -> None:
    client, csrf = operator
    for query, named in (({"stage": "nowhere"}, "stage"), ({"limit": "0"}, "limit")):
        answer = client.get("/console/api/dead-letters", params=query)
        assert answer.status_code == 400
        assert named in answer.json()["detail"]
    answer = client.post(
        "/console/api/dead-letters/replay",
        json={"filter": {"endpoint": REGISTRY}},
        headers={"X-CSRF-Token": csrf},
    )
    assert answer.status_code == 400
    assert "expect" in answer.json()["detail"]
