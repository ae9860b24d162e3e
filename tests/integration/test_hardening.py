"""Defects found by trying to break the hub, each pinned over real HTTP against a hub process."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.harness import (
    REPO,
    SAMR_SAMPLES,
    FakeDepartment,
    HubProcess,
    free_port,
    make_home,
    wait_for,
)
from tests.integration.conftest import routes_for

SAMPLE = sorted((SAMR_SAMPLES / "valid").glob("*.xml"))[0].read_bytes()
DEMO_SENDER_KEY = "demo-key-samr-reg"
DEMO_OPERATOR_KEY = "demo-key-operator"


@pytest.fixture(scope="module")
def hub(dept: FakeDepartment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    tmp: Path = tmp_path_factory.mktemp("hardening")
    process = HubProcess(home=make_home(tmp, routes_for(dept)), data_dir=tmp / "var").start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def keys(hub: HubProcess) -> dict[str, str]:
    return {"samr": hub.create_key("samr-reg"), "operator": hub.create_key("ops", operator=True)}


@pytest.fixture(autouse=True)
def _fresh_department(dept: FakeDepartment) -> None:
    dept.reset()


def submit(hub: HubProcess, key: str, **headers: str | bytes) -> httpx.Response:
    sent: dict[str, str | bytes] = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/xml",
        **headers,
    }
    return httpx.post(f"{hub.url}/v1/messages", content=SAMPLE, headers=sent, timeout=10)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# -- demo keys ---------------------------------------------------------------------------------


def test_demo_keys_stop_working_when_the_hub_starts_without_demo(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for folder in ("schemas", "adapters", "routes"):
        shutil.copytree(REPO / folder, home / folder)
    demo_args = ["--demo", "--demo-port", str(free_port())]
    demo = HubProcess(home=home, data_dir=tmp_path / "var", args=demo_args).start()
    try:
        assert httpx.get(
            f"{demo.url}/v1/dead-letters", headers=bearer(DEMO_OPERATOR_KEY)
        ).is_success
    finally:
        demo.stop()

    plain = HubProcess(home=home, data_dir=tmp_path / "var").start()
    try:
        assert submit(plain, DEMO_SENDER_KEY).status_code == 401
        answer = httpx.get(f"{plain.url}/v1/dead-letters", headers=bearer(DEMO_OPERATOR_KEY))
        assert answer.status_code == 401
        assert "removed 2 demo key(s)" in plain.log()
    finally:
        plain.stop()


# -- message and correlation ids ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "value", "says"),
    [
        ("X-Exchange-Message-Id", "m" * 129, "129 characters long"),
        ("X-Exchange-Message-Id", "x" * 8000, "8000 characters long"),
        ("X-Exchange-Message-Id", "two words", "' ' (U+0020)"),
        ("X-Exchange-Message-Id", "消息-1".encode(), "only visible ASCII"),
        ("X-Exchange-Message-Id", "", "is empty"),
        ("X-Exchange-Correlation-Id", "c" * 200, "correlation id is 200 characters"),
    ],
)
def test_unusable_ids_are_refused_with_400(
    hub: HubProcess, keys: dict[str, str], header: str, value: str | bytes, says: str
) -> None:
    answer = submit(hub, keys["samr"], **{header: value})
    assert answer.status_code == 400, answer.text
    problem: dict[str, Any] = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    assert problem["title"] == "Bad envelope"
    assert says in problem["detail"] and "visible ASCII" in problem["detail"]


def test_ids_at_the_limit_are_accepted_and_delivered(
    hub: HubProcess, dept: FakeDepartment, keys: dict[str, str]
) -> None:
    message_id = "urn:x/" + "9" * 122
    answer = submit(
        hub,
        keys["samr"],
        **{"X-Exchange-Message-Id": message_id, "X-Exchange-Correlation-Id": "~!"},
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["message_id"] == message_id
    hub_id = answer.json()["id"]

    def delivered() -> bool:
        found = httpx.get(f"{hub.url}/v1/messages/{hub_id}", headers=bearer(keys["samr"]))
        return found.is_success and found.json()["status"] == "delivered"

    wait_for(delivered)
    headers, _ = dept.received["tax-bureau"][0]
    assert headers["x-exchange-message-id"] == message_id
    assert headers["x-exchange-correlation-id"] == "~!"


# -- dead letters, page by page -----------------------------------------------------------------


def test_dead_letters_are_paged_with_a_cursor(
    hub: HubProcess, dept: FakeDepartment, keys: dict[str, str]
) -> None:
    dept.behaviours["tax-bureau"] = lambda _, n: web.Response(status=400, text="refused")
    sent = {submit(hub, keys["samr"]).json()["id"] for _ in range(7)}
    operator = bearer(keys["operator"])
    url = f"{hub.url}/v1/dead-letters"

    def ours() -> list[dict[str, Any]]:
        rows = httpx.get(url, headers=operator, params={"limit": 1000}).json()["dead_letters"]
        return [r for r in rows if r["message"] in sent and r["endpoint"] == "tax-bureau"]

    wait_for(lambda: len(ours()) == 7)
    everything = [r["id"] for r in ours()]

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 3, "endpoint": "tax-bureau"}
        if cursor:
            params["cursor"] = cursor
        page = httpx.get(url, headers=operator, params=params).json()
        pages.append([r["id"] for r in page["dead_letters"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    listed = [dead for page in pages for dead in page]
    assert [len(p) for p in pages][:2] == [3, 3] and len(listed) == len(set(listed))
    assert [d for d in listed if d in everything] == everything  # newest first, none twice
    other = httpx.get(url, headers=operator, params={"endpoint": "no-such-endpoint"}).json()
    assert other == {"dead_letters": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"limit": "0"}, "limit '0'"),
        ({"limit": "1001"}, "from 1 to 1000"),
        ({"limit": "ten"}, "limit 'ten'"),
        ({"cursor": "bm9wZQ"}, "next_cursor of the previous page"),
        ({"include_replayed": "maybe"}, "true or false"),
    ],
)
def test_bad_dead_letter_queries_are_400(
    hub: HubProcess, keys: dict[str, str], params: dict[str, str], says: str
) -> None:
    url = f"{hub.url}/v1/dead-letters"
    answer = httpx.get(url, headers=bearer(keys["operator"]), params=params)
    assert answer.status_code == 400, answer.text
    assert says in answer.json()["detail"]
    assert httpx.get(url, params=params).status_code == 401  # who before what


# -- the CLI ----------------------------------------------------------------------------------


def test_exchange_send_needs_no_sender(hub: HubProcess, keys: dict[str, str]) -> None:
    sample = sorted((SAMR_SAMPLES / "valid").glob("*.xml"))[0]
    command = [sys.executable, "-m", "exchange", "send", str(sample), "--key", keys["samr"]]
    done = subprocess.run(
        [*command, "--url", hub.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("202 ")
