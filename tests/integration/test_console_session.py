"""The console's sign-in, session cookie, CSRF and roles over real HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from exchange.demo import DEMO_OPERATOR_KEY, DEMO_SENDER_KEY
from tests.browser.console import ConsoleHub, send, start_console_hub

SESSION = "/console/api/session"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleHub]:
    started = start_console_hub(tmp_path_factory.mktemp("console-session"))
    try:
        yield started
    finally:
        started.stop()


def client(hub: ConsoleHub) -> httpx.Client:
    return httpx.Client(base_url=hub.url, timeout=10)


def sign_in(browser: httpx.Client, key: str) -> str:
    """Sign ``browser`` in with ``key``; the session's CSRF token."""
    answer = browser.post(SESSION, json={"key": key})
    assert answer.status_code == 200, answer.text
    csrf: str = answer.json()["csrf"]
    return csrf


def test_an_operator_key_signs_in_with_a_strict_httponly_cookie(hub: ConsoleHub) -> None:
    with client(hub) as browser:
        answer = browser.post(SESSION, json={"key": DEMO_OPERATOR_KEY})

        assert answer.status_code == 200
        who = answer.json()
        assert (who["name"], who["role"]) == ("demo-operator", "operator")
        assert re.fullmatch(r"[0-9a-f]{64}", who["csrf"])
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        assert "Path=/console" in cookie
        assert "Secure" not in cookie  # plain HTTP here; Secure when the request came over TLS
        assert DEMO_OPERATOR_KEY not in cookie  # a random token, not the key

        again = browser.get(SESSION)
        assert again.status_code == 200
        assert again.json() == {**who, "hub": who["hub"]}


@pytest.mark.parametrize(
    ("key", "status", "says"),
    [
        (DEMO_SENDER_KEY, 403, "a sender key cannot open the console"),
        ("exk_not-a-key", 401, "unknown or revoked"),
        ("", 400, '"key"'),
    ],
)
def test_sender_and_unknown_keys_are_refused(
    hub: ConsoleHub, key: str, status: int, says: str
) -> None:
    with client(hub) as browser:
        answer = browser.post(SESSION, json={"key": key})
        assert answer.status_code == status
        assert answer.headers["content-type"] == "application/problem+json"
        assert says in answer.json()["detail"]
        assert "set-cookie" not in answer.headers
        assert browser.get(SESSION).status_code == 401


def test_without_a_session_the_console_api_answers_401(hub: ConsoleHub) -> None:
    with client(hub) as browser:
        answer = browser.get(SESSION)
        assert answer.status_code == 401
        assert "sign in at /console" in answer.json()["detail"]
    with httpx.Client(base_url=hub.url, cookies={"exchange_console": "forged"}) as forger:
        assert forger.get(SESSION).status_code == 401


def test_sign_out_needs_the_csrf_token_and_ends_the_session(hub: ConsoleHub) -> None:
    with client(hub) as browser:
        csrf = sign_in(browser, DEMO_OPERATOR_KEY)
        missing = browser.post(f"{SESSION}/end")
        assert missing.status_code == 403 and "X-CSRF-Token" in missing.json()["detail"]
        wrong = browser.post(f"{SESSION}/end", headers={"X-CSRF-Token": "0" * 64})
        assert wrong.status_code == 403
        assert browser.get(SESSION).status_code == 200  # neither ended it

        ended = browser.post(f"{SESSION}/end", headers={"X-CSRF-Token": csrf})
        assert ended.status_code == 200
        assert browser.get(SESSION).status_code == 401


def test_a_cross_site_post_is_refused_even_with_the_token(hub: ConsoleHub) -> None:
    with client(hub) as browser:
        csrf = sign_in(browser, DEMO_OPERATOR_KEY)
        for headers in (
            {"Origin": "http://evil.example"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
        ):
            answer = browser.post(f"{SESSION}/end", headers={"X-CSRF-Token": csrf, **headers})
            assert answer.status_code == 403, headers
            assert "another site" in answer.json()["detail"] or "origin" in answer.json()["detail"]
        signing_in = browser.post(
            SESSION, json={"key": DEMO_OPERATOR_KEY}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert signing_in.status_code == 403
        assert browser.get(SESSION).status_code == 200


def test_a_viewer_key_signs_in_as_viewer_and_reads_any_message(hub: ConsoleHub) -> None:
    with client(hub) as browser:
        sign_in(browser, hub.viewer_key)
        assert browser.get(SESSION).json()["role"] == "viewer"
    bearer = {"Authorization": f"Bearer {hub.viewer_key}"}
    message = httpx.get(f"{hub.url}/v1/messages/{send(hub)}", headers=bearer)
    assert message.status_code == 200  # another sender's message
    listing = httpx.get(f"{hub.url}/v1/dead-letters", headers=bearer)
    assert listing.status_code == 200  # viewers may read the dead letters ...
    replay = httpx.post(
        f"{hub.url}/v1/dead-letters/00000000-0000-0000-0000-000000000000/replay", headers=bearer
    )
    assert replay.status_code == 403  # ... but not replay them


def test_revoking_the_key_ends_its_console_sessions(hub: ConsoleHub) -> None:
    key = hub.create_key("ops.revoked", role="operator")
    with client(hub) as browser:
        sign_in(browser, key)
        assert browser.get(SESSION).status_code == 200
        hub.exchange("keys", "revoke", "ops.revoked")
        assert browser.get(SESSION).status_code == 401


def test_sessions_survive_a_front_door_restart(tmp_path: Path) -> None:
    hub = start_console_hub(tmp_path)
    try:
        with client(hub) as browser:
            sign_in(browser, DEMO_OPERATOR_KEY)
            hub.process.stop()
            hub.process.start()
            assert browser.get(SESSION).status_code == 200
    finally:
        hub.stop()


def test_the_console_page_and_its_files_are_served_locally(hub: ConsoleHub) -> None:
    page = httpx.get(f"{hub.url}/console")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    links = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/console/static/app.js" in links
    assert "/console/static/vendor/uPlot.iife.min.js" in links
    for link in links:
        assert link.startswith("/console/static/"), link
        assert httpx.get(hub.url + link).status_code == 200, link
    assert 'data-test="assets-missing"' not in page.text
    escape = httpx.get(f"{hub.url}/console/static/%2e%2e/shell.py")
    assert escape.status_code == 404
