"""The overview in a real Chromium: the demo's endpoints and routes, figures that move live."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.console import ConsoleHub

pytestmark = pytest.mark.slow

DEMO_ENDPOINTS = ["legal-entity-registry", "social-security", "tax-bureau"]
DEMO_ROUTES = [
    "enterprise-registration-to-tax-and-registry",
    "enterprise-registration-with-employees-to-social-security",
]


def _number(page: Page, selector: str) -> int:
    return int(page.locator(selector).inner_text().replace(",", "").strip())


def test_the_overview_shows_the_demo_and_moves_when_messages_flow(
    operator_page: Page, console_hub: ConsoleHub, send: Callable[..., str]
) -> None:
    page = operator_page
    page.goto(f"{console_hub.url}/console#/overview")
    rows = page.locator('[data-test="endpoint-row"]')
    expect(rows).to_have_count(len(DEMO_ENDPOINTS))
    assert sorted(rows.evaluate_all("rows => rows.map(r => r.dataset.endpoint)")) == DEMO_ENDPOINTS
    routes = page.locator('[data-test="route-row"]')
    assert sorted(routes.evaluate_all("rows => rows.map(r => r.dataset.route)")) == DEMO_ROUTES
    for name in DEMO_ENDPOINTS:
        breaker = page.locator(f'[data-endpoint="{name}"] [data-test="breaker"]')
        expect(breaker).to_have_attribute("data-state", "closed")
    expect(page.locator('[data-test="live-status"]')).to_have_attribute("data-state", "live")
    expect(page.locator('[data-test="chart-throughput"] canvas')).to_have_count(1)
    expect(page.locator('[data-test="sparkline"] canvas')).to_have_count(len(DEMO_ENDPOINTS))

    tax = '[data-endpoint="tax-bureau"] [data-test="delivered"]'
    total = '[data-test="total-delivered"] [data-test="value"]'
    expect(page.locator(tax)).not_to_have_text("—")
    tax_before, total_before = _number(page, tax), _number(page, total)
    page.evaluate("window.stillTheSamePage = true")

    for i in range(3):
        send(console_hub, message_id=f"overview-live-{i}")

    # Each demo registration goes to the tax bureau, the registry and social security.
    expect(page.locator(tax)).to_have_text(str(tax_before + 3), timeout=20_000)
    expect(page.locator(total)).to_have_text(str(total_before + 9), timeout=20_000)
    accepted = page.locator('[data-test="total-accepted"] [data-test="value"]')
    assert int(accepted.inner_text()) >= 3
    assert page.evaluate("window.stillTheSamePage") is True  # no reload: the stream moved it

    # Another range: the charts are drawn again from its series.
    with page.expect_response(lambda r: "/console/api/series?range=24h" in r.url) as answer:
        page.locator('[data-test="range"] button[data-value="24h"]').click()
    assert answer.value.ok
    expect(page.locator('[data-test="range"] button[data-value="24h"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.locator('[data-test="chart-latency"] canvas')).to_have_count(1)


def test_the_overview_speaks_chinese(operator_page: Page, console_hub: ConsoleHub) -> None:
    page = operator_page
    page.goto(f"{console_hub.url}/console#/overview")
    page.locator('[data-test="lang-zh"]').click()
    expect(page.locator('main[data-view="overview"] h1')).to_have_text("总览")
    expect(page.locator('[data-test="endpoints"] th').first).to_have_text("端点")
    expect(page.locator('[data-endpoint="tax-bureau"] [data-test="breaker"]')).to_have_text("闭合")
    page.locator('[data-test="lang-en"]').click()
    expect(page.locator('main[data-view="overview"] h1')).to_have_text("Overview")
