"""Signing in to the console in a real Chromium: roles, refusals, sign-out, CSRF, language."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from exchange.demo import DEMO_SENDER_KEY
from tests.browser.conftest import new_context
from tests.browser.console import ConsoleHub

pytestmark = pytest.mark.slow

NAV_ZH = ["总览", "拓扑", "消息", "死信", "健康", "统计"]
NAV_EN = ["Overview", "Topology", "Messages", "Dead letters", "Health", "Statistics"]


def sign_in_by_hand(page: Page, hub: ConsoleHub, key: str) -> None:
    page.goto(f"{hub.url}/console")
    page.locator('[data-test="sign-in-key"]').fill(key)
    page.locator('[data-test="sign-in"]').click()


def test_an_operator_signs_in_and_sees_name_role_and_navigation(
    browser: Browser, console_hub: ConsoleHub
) -> None:
    context = new_context(browser, console_hub)
    try:
        page = context.new_page()
        sign_in_by_hand(page, console_hub, console_hub.operator_key)

        expect(page.locator('[data-test="user-name"]')).to_have_text("demo-operator")
        expect(page.locator('[data-test="user-role"]')).to_have_attribute("data-role", "operator")
        expect(page.locator('[data-test="user-role"]')).to_have_text("operator")
        expect(page.locator('[data-test="hub-name"]')).to_have_text("Exchange hub")
        expect(page.locator('[data-test="nav"] a')).to_have_text(NAV_EN)
        # The key went only into the sign-in request: not into the URL or the page's storage.
        assert console_hub.operator_key not in page.url
        stored = page.evaluate(
            "JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})"
        )
        assert console_hub.operator_key not in stored

        (cookie,) = [c for c in context.cookies() if c["name"] == "exchange_console"]
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert cookie["path"] == "/console"
        assert page.evaluate("document.cookie") == ""  # out of the scripts' reach
    finally:
        context.close()


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("exk_wrong-key", "unknown or revoked"),
        (DEMO_SENDER_KEY, "A sender key cannot open the console"),
    ],
)
def test_a_wrong_key_and_a_sender_key_are_refused_with_a_message(
    browser: Browser, console_hub: ConsoleHub, key: str, says: str
) -> None:
    context = new_context(browser, console_hub)
    try:
        page = context.new_page()
        sign_in_by_hand(page, console_hub, key)

        error = page.locator('[data-test="sign-in-error"]')
        expect(error).to_be_visible()
        expect(error).to_contain_text(says)
        expect(page.locator('[data-test="user-name"]')).to_have_count(0)
        assert not [c for c in context.cookies() if c["name"] == "exchange_console"]
    finally:
        context.close()


def test_sign_out_ends_the_session(operator_page: Page, console_hub: ConsoleHub) -> None:
    api = operator_page.context.request
    assert api.get(f"{console_hub.url}/console/api/session").status == 200

    operator_page.locator('[data-test="sign-out"]').click()

    expect(operator_page.locator('[data-test="sign-in-form"]')).to_be_visible()
    assert api.get(f"{console_hub.url}/console/api/session").status == 401
    operator_page.reload()
    expect(operator_page.locator('[data-test="sign-in-form"]')).to_be_visible()


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused(
    operator_page: Page, console_hub: ConsoleHub
) -> None:
    # From the signed-in page itself: the browser sends the session cookie, same origin.
    statuses = operator_page.evaluate(
        """async () => {
            const end = (headers) => fetch("/console/api/session/end",
                { method: "POST", credentials: "same-origin", headers });
            const without = await end({});
            const wrong = await end({ "X-CSRF-Token": "0".repeat(64) });
            const still = await fetch("/console/api/session");
            return [without.status, wrong.status, still.status];
        }"""
    )
    assert statuses == [403, 403, 200]


def test_a_viewer_signs_in_as_viewer(viewer_page: Page) -> None:
    expect(viewer_page.locator('[data-test="user-name"]')).to_have_text("demo-viewer")
    expect(viewer_page.locator('[data-test="user-role"]')).to_have_attribute("data-role", "viewer")


def test_the_language_switch_puts_the_navigation_in_chinese_and_is_remembered(
    operator_page: Page,
) -> None:
    expect(operator_page.locator('[data-test="nav"] a')).to_have_text(NAV_EN)

    operator_page.locator('[data-test="lang-zh"]').click()

    expect(operator_page.locator('[data-test="nav"] a')).to_have_text(NAV_ZH)
    expect(operator_page.locator('[data-test="sign-out"]')).to_have_text("退出")
    operator_page.reload()
    expect(operator_page.locator('[data-test="nav"] a')).to_have_text(NAV_ZH)


def test_a_chinese_browser_gets_chinese_labels(browser: Browser, console_hub: ConsoleHub) -> None:
    context = new_context(browser, console_hub, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"{console_hub.url}/console")
        expect(page.locator('[data-test="sign-in"]')).to_have_text("登录")
    finally:
        context.close()


def test_a_view_that_fails_to_load_shows_its_error(operator_page: Page) -> None:
    operator_page.evaluate("location.hash = '#/no-such-page'")
    expect(operator_page.locator('[data-test="view-error"]')).to_contain_text("no-such-page")
    # The shell stays usable around it.
    expect(operator_page.locator('[data-test="nav"] a')).to_have_count(6)


@pytest.mark.parametrize(
    ("module", "says"),
    [
        ("throw new Error('broken view');", "failed to load"),
        (
            "export async function render() { throw new Error('broken view'); }",
            "could not be shown",
        ),
    ],
)
def test_a_view_that_breaks_shows_its_error_not_a_blank_page(
    operator_page: Page, module: str, says: str
) -> None:
    operator_page.route(
        "**/console/static/views/health.js",
        lambda route: route.fulfill(status=200, content_type="text/javascript", body=module),
    )
    operator_page.evaluate("location.hash = '#/health'")

    error = operator_page.locator('[data-test="view-error"]')
    expect(error).to_contain_text(says)
    expect(error).to_contain_text("broken view")
