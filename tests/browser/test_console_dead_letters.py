"""Dead letters in a real Chromium: a delivery the demo receiver refuses (HTTP 400) is listed;
once the receiver is fixed, an operator replays it from the page and it ends delivered, the
replay in its timeline with the operator's name; replay all matching asks with the count;
discard needs a reason; a viewer sees no action."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.console import ConsoleHub, send

pytestmark = pytest.mark.slow

REGISTRY = "legal-entity-registry"


def _receiver(hub: ConsoleHub, action: str) -> None:
    answer = httpx.post(f"{hub.demo_url}/demo-receivers/{REGISTRY}/{action}", timeout=5)
    assert answer.status_code == 200, answer.text


@pytest.fixture
def refusing(console_hub: ConsoleHub) -> Iterator[None]:
    """The demo registry refusing ``refuse-…`` ids, as a newcomer finds it."""
    _receiver(console_hub, "refuse")
    yield
    _receiver(console_hub, "refuse")


def _refused(hub: ConsoleHub, n: int = 1) -> tuple[str, list[str]]:
    """``n`` messages the registry refuses, all with one tag in their ids; the hub's ids."""
    tag = f"refuse-{uuid.uuid4().hex[:10]}"
    return tag, [send(hub, message_id=f"{tag}-{i}") for i in range(n)]


def _wait_listed(page: Page, hub: ConsoleHub, tag: str, n: int) -> None:
    """Until the hub lists ``n`` dead letters of ``tag`` (the session's own API)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        answer = page.context.request.get(
            f"{hub.url}/console/api/dead-letters", params={"reason": tag}
        )
        assert answer.ok, answer.text()
        if len(answer.json()["dead_letters"]) == n:
            return
        time.sleep(0.1)
    raise AssertionError(f"{n} dead letters of {tag} did not appear")


def _message(hub: ConsoleHub, hub_id: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{hub.url}/v1/messages/{hub_id}",
        headers={"Authorization": f"Bearer {hub.operator_key}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def _ends(hub: ConsoleHub, hub_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        message = _message(hub, hub_id)
        if message["status"] == status:
            return message
        time.sleep(0.1)
    raise AssertionError(f"{hub_id} did not end {status}: {_message(hub, hub_id)['status']}")


def _open(page: Page, hub: ConsoleHub, query: str) -> None:
    page.goto(f"{hub.url}/console#/dead-letters?{query}")
    page.locator('main[data-view="dead-letters"]:not([aria-busy])').wait_for()


def _rows(page: Page) -> Any:
    return page.locator('[data-test="dead-letter-row"]')


def test_a_refused_delivery_is_replayed_from_the_page_once_the_receiver_is_fixed(
    operator_page: Page, console_hub: ConsoleHub, refusing: None
) -> None:
    page = operator_page
    tag, (hub_id,) = _refused(console_hub)
    _wait_listed(page, console_hub, tag, 1)
    assert _message(console_hub, hub_id)["status"] == "dead_lettered"

    _open(page, console_hub, f"reason={tag}")
    row = _rows(page)
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-message", hub_id)
    expect(row.locator('[data-test="endpoint"]')).to_have_text(REGISTRY)
    expect(row.locator('[data-test="reason"]')).to_contain_text("400")
    expect(row.locator('[data-test="message-link"]')).to_have_text(f"{tag}-0")
    expect(row.locator('[data-test="state"]')).to_have_attribute("data-state", "waiting")

    _receiver(console_hub, "fix")
    row.locator('[data-test="replay"]').click()
    dialog = page.locator('[data-test="confirm-dialog"]')
    expect(dialog.locator('[data-test="confirm-text"]')).to_have_text("Replay this dead letter?")
    dialog.locator('[data-test="confirm"]').click()
    expect(page.locator('[data-test="notice"]')).to_have_text(
        "Replayed 1 dead letter, as demo-operator."
    )
    expect(_rows(page)).to_have_count(0)  # no longer waiting

    message = _ends(console_hub, hub_id, "delivered")
    assert [s["by"] for s in message["trace"] if s["step"] == "replayed"] == ["demo-operator"]

    # The message's page, through the row's link, shows the replay and who did it.
    _open(page, console_hub, f"reason={tag}&include_replayed=true")
    expect(_rows(page).locator('[data-test="state"]')).to_have_attribute("data-state", "replayed")
    expect(_rows(page).locator('[data-test="replay-count"]')).to_have_text("1")
    _rows(page).locator('[data-test="message-link"]').click()
    expect(page).to_have_url(re.compile(f"#/messages/{hub_id}$"))
    replayed = page.locator('[data-test="step"][data-step="replayed"]')
    expect(replayed.locator('[data-test="step-by"]')).to_contain_text("demo-operator")


def test_replay_all_matching_asks_with_the_count_first(
    operator_page: Page, console_hub: ConsoleHub, refusing: None
) -> None:
    page = operator_page
    tag, ids = _refused(console_hub, 2)
    _wait_listed(page, console_hub, tag, 2)
    _open(page, console_hub, f"reason={tag}")
    expect(_rows(page)).to_have_count(2)

    _receiver(console_hub, "fix")
    page.locator('[data-test="replay-matching"]').click()
    dialog = page.locator('[data-test="confirm-dialog"]')
    expect(dialog.locator('[data-test="confirm-text"]')).to_have_text("Replay 2 dead letters?")
    expect(dialog.locator('[data-test="discard-reason"]')).to_have_count(0)
    expect(dialog).not_to_contain_text("null")
    dialog.locator('[data-test="confirm"]').click()
    expect(page.locator('[data-test="notice"]')).to_have_text(
        "Replayed 2 dead letters, as demo-operator."
    )
    for hub_id in ids:
        _ends(console_hub, hub_id, "delivered")


def test_discarding_the_selected_needs_a_reason(
    operator_page: Page, console_hub: ConsoleHub, refusing: None
) -> None:
    page = operator_page
    tag, (hub_id,) = _refused(console_hub)
    _wait_listed(page, console_hub, tag, 1)
    _open(page, console_hub, f"reason={tag}")

    discard = page.locator('[data-test="discard-selected"]')
    expect(discard).to_be_disabled()
    _rows(page).locator('[data-test="select"]').check()
    expect(discard).to_have_text("Discard selected (1)…")
    discard.click()
    dialog = page.locator('[data-test="confirm-dialog"]')
    expect(dialog.locator('[data-test="confirm-text"]')).to_have_text("Discard 1 dead letter?")
    dialog.locator('[data-test="confirm"]').click()
    expect(dialog.locator('[data-test="dialog-error"]')).to_have_text("A reason is required.")
    dialog.locator('[data-test="discard-reason"]').fill("sent by mistake")
    dialog.locator('[data-test="confirm"]').click()
    expect(page.locator('[data-test="notice"]')).to_have_text(
        "Discarded 1 dead letter, as demo-operator."
    )
    expect(_rows(page)).to_have_count(0)
    expect(page.locator('[data-test="empty"]')).to_be_visible()

    page.locator('[data-test="filter-discarded"]').check()
    page.locator('[data-test="apply-filter"]').click()
    state = _rows(page).locator('[data-test="state"]')
    expect(state).to_have_attribute("data-state", "discarded")
    expect(state).to_have_text("discarded by demo-operator: sent by mistake")
    expect(_rows(page).locator('[data-test="replay"]')).to_have_count(0)
    message = _ends(console_hub, hub_id, "discarded")
    assert message["trace"][-1]["by"] == "demo-operator"


def test_a_viewer_sees_the_dead_letters_but_no_action(
    viewer_page: Page, console_hub: ConsoleHub, refusing: None
) -> None:
    page = viewer_page
    tag, (hub_id,) = _refused(console_hub)
    _wait_listed(page, console_hub, tag, 1)
    _open(page, console_hub, f"reason={tag}")

    expect(_rows(page)).to_have_count(1)
    expect(_rows(page)).to_have_attribute("data-message", hub_id)
    expect(page.locator('[data-test="viewer-note"]')).to_be_visible()
    for action in ("replay", "replay-selected", "replay-matching", "discard-selected", "select"):
        expect(page.locator(f'[data-test="{action}"]')).to_have_count(0)
