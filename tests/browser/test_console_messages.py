"""The Messages pages in a real Chromium: search by the sender's message id, open the
message, see its timeline and what each destination received, highlighted and safe."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.console import SAMPLE, ConsoleHub

pytestmark = pytest.mark.slow

# Text only each receiver's format has: its namespace and an element of its own.
ONLY_IN = {
    "tax-bureau": ("urn:cn:gov:chinatax:taxpayer-registration:1", "TaxpayerIdentificationNumber"),
    "social-security": ("urn:cn:gov:mohrss:employer-registration:1", "UnitCode"),
    "legal-entity-registry": ("urn:cn:gov:exchange:canonical:legal-entity:1", "CreditCode"),
}


def _wait_delivered(hub: ConsoleHub, page: Page, hub_id: str) -> None:
    """Until the store has the message delivered with every document (through the page's
    own session)."""

    def settled() -> bool:
        answer = page.request.get(f"{hub.url}/console/api/messages/{hub_id}")
        if not answer.ok:
            return False
        body = answer.json()
        return body["message"]["status"] == "delivered" and all(
            d["kept"] for d in body["documents"]
        )

    for _ in range(300):
        if settled():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"{hub_id} was not delivered with its documents in 30 s")


def test_search_finds_a_message_by_its_senders_id_and_opens_it(
    console_hub: ConsoleHub, operator_page: Page, send: Callable[..., str]
) -> None:
    hub_id = send(console_hub, message_id="browser-search-1")
    send(console_hub, message_id="browser-search-2")
    page = operator_page
    _wait_delivered(console_hub, page, hub_id)

    page.goto(f"{console_hub.url}/console#/messages")
    page.locator('[data-test="search-message_id"]').fill("browser-search-1")
    page.locator('[data-test="search"]').click()

    rows = page.locator('[data-test="result"]')
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", hub_id)
    expect(rows.first).to_contain_text("samr-reg")
    expect(rows.first.locator('[data-test="status"]')).to_have_text("delivered")
    assert "message_id=browser-search-1" in page.url  # the search is in the address

    rows.first.locator('[data-test="result-link"]').click()
    expect(page.locator('[data-test="message-id"]')).to_have_text(hub_id)
    expect(page.locator('[data-test="envelope-message_id"]')).to_have_text("browser-search-1")


def test_the_message_page_shows_each_destinations_translated_document(
    console_hub: ConsoleHub, operator_page: Page, send: Callable[..., str]
) -> None:
    hub_id = send(console_hub, message_id="browser-documents-1")
    page = operator_page
    _wait_delivered(console_hub, page, hub_id)

    page.goto(f"{console_hub.url}/console#/messages/{hub_id}")

    steps = page.locator('[data-test="step"]')
    expect(steps.first).to_have_attribute("data-step", "accepted")
    expect(page.locator('[data-test="step"][data-step="delivered"]')).to_have_count(3)
    expect(page.locator('[data-test="step"][data-step="routed"]')).to_contain_text(
        "samr-to-canonical → canonical-to-tax"
    )
    expect(page.locator('[data-test="delivery"]')).to_have_count(3)

    for endpoint, (namespace, element) in ONLY_IN.items():
        shown = page.locator(f'[data-test="document-{endpoint}"]')
        expect(shown).to_contain_text(namespace)
        expect(shown).to_contain_text(element)
        text = shown.inner_text()
        for other, (other_namespace, _) in ONLY_IN.items():
            if other != endpoint:
                assert other_namespace not in text, (endpoint, other)
        # Highlighted: element names in their own spans, as text.
        expect(shown.locator(".x-tag", has_text=element).first).to_be_visible()

    original = page.locator('[data-test="document-original"]')
    expect(original).to_contain_text("urn:cn:gov:samr:enterprise-registration:1")

    link = page.locator('[data-test="download-tax-bureau"]')
    expect(link).to_have_attribute("href", re.compile(r"/documents/tax-bureau\?download=1$"))
    with page.expect_download() as download:
        page.locator('[data-test="download-original"]').click()
    saved = download.value.path()
    assert saved is not None
    with open(saved, "rb") as file:
        assert file.read() == SAMPLE.read_bytes()


def test_a_document_holding_markup_is_shown_as_text_never_run(
    console_hub: ConsoleHub, operator_page: Page, send: Callable[..., str]
) -> None:
    # A comment is free text the schemas allow anywhere: a script tag in it stays text.
    body = SAMPLE.read_bytes().replace(
        b"<EnterpriseName>",
        b'<!-- <img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> -->'
        b"<EnterpriseName>",
        1,
    )
    assert body != SAMPLE.read_bytes()
    hub_id = send(console_hub, message_id="browser-markup-1", body=body)
    page = operator_page
    _wait_delivered(console_hub, page, hub_id)

    page.goto(f"{console_hub.url}/console#/messages/{hub_id}")
    original = page.locator('[data-test="document-original"]')
    expect(original.locator(".x-comment")).to_contain_text("<script>window.__pwned=2</script>")
    assert original.locator("script, img").count() == 0
    assert page.evaluate("window.__pwned === undefined")


def test_a_viewer_sees_messages_too(
    console_hub: ConsoleHub, viewer_page: Page, send: Callable[..., str]
) -> None:
    hub_id = send(console_hub, message_id="browser-viewer-1")
    _wait_delivered(console_hub, viewer_page, hub_id)
    viewer_page.goto(f"{console_hub.url}/console#/messages?message_id=browser-viewer-1")
    expect(viewer_page.locator('[data-test="result"]')).to_have_count(1)
    # ... which no one without a console session does.
    answer = httpx.get(f"{console_hub.url}/console/api/messages/{hub_id}/documents/original")
    assert answer.status_code == 401
