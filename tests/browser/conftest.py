"""Fixtures of the console's browser tests: a demo hub, Chromium, signed-in pages.

- ``console_hub`` (module): ``exchange serve --demo`` on free ports (``--processes 1``; a
  test module may set ``CONSOLE_HUB_PROCESSES`` and ``CONSOLE_HUB_ENV`` to change that),
  with ``.url``, ``.demo_url``, ``.viewer_key`` and ``.create_key(name, role=...)``;
- ``browser`` (module): Debian's Chromium under Playwright's sync API;
- ``operator_page`` / ``viewer_page``: a fresh browser context (English) whose page is
  signed in at ``/console`` with the demo operator key / the hub's viewer key;
- ``send``: ``send(console_hub, message_id=..., body=...) -> hub id``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.browser.console import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ConsoleHub,
    start_console_hub,
)
from tests.browser.console import (
    send as send_message,
)

TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def console_hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleHub]:
    hub = start_console_hub(
        tmp_path_factory.mktemp("console"),
        processes=getattr(request.module, "CONSOLE_HUB_PROCESSES", 1),
        env=getattr(request.module, "CONSOLE_HUB_ENV", None),
    )
    try:
        yield hub
    finally:
        hub.stop()


# Module scope, not session: while Playwright's sync API is open, its event loop counts as
# running in this thread, and every async test after it (pytest-asyncio) would fail with
# "Runner.run() cannot be called from a running event loop". Closed at the end of each
# browser module, it leaves the rest of the suite its own loops.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        # A failure, not a skip: the console is not tested without a browser.
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium", pytrace=False)
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()


def new_context(browser: Browser, hub: ConsoleHub, *, locale: str = "en-US") -> BrowserContext:
    context = browser.new_context(base_url=hub.url, locale=locale)
    context.set_default_timeout(TIMEOUT_MS)
    return context


def sign_in(context: BrowserContext, hub: ConsoleHub, key: str) -> Page:
    """A page of ``context`` signed in with ``key`` and showing the console's shell."""
    answer = context.request.post(f"{hub.url}/console/api/session", data={"key": key})
    assert answer.ok, answer.text()
    page = context.new_page()
    page.goto(f"{hub.url}/console")
    page.locator('[data-test="user-name"]').wait_for()
    return page


@pytest.fixture
def operator_page(browser: Browser, console_hub: ConsoleHub) -> Iterator[Page]:
    context = new_context(browser, console_hub)
    try:
        yield sign_in(context, console_hub, console_hub.operator_key)
    finally:
        context.close()


@pytest.fixture
def viewer_page(browser: Browser, console_hub: ConsoleHub) -> Iterator[Page]:
    context = new_context(browser, console_hub)
    try:
        yield sign_in(context, console_hub, console_hub.viewer_key)
    finally:
        context.close()


@pytest.fixture
def send() -> Callable[..., str]:
    return send_message
