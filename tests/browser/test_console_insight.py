"""The topology, health and statistics pages in Chromium, against a demo hub."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.browser.console import ConsoleHub
from tests.harness import wait_for

pytestmark = pytest.mark.slow

ENDPOINTS = ("tax-bureau", "social-security", "legal-entity-registry")


def test_topology_draws_the_demo_endpoints_and_their_adapter_chains(
    operator_page: Page, console_hub: ConsoleHub
) -> None:
    page = operator_page
    page.goto(f"{console_hub.url}/console#/topology")
    graph = page.locator('[data-test="topology-graph"]')
    expect(graph).to_be_visible()
    for name in ENDPOINTS:
        expect(graph.locator(f'[data-node="endpoint:{name}"]')).to_be_visible()
    expect(graph.locator('[data-node="sender:samr-reg"]')).to_be_visible()
    tax = page.locator(
        '[data-test="topology-edge"]'
        '[data-edge="route:enterprise-registration-to-tax-and-registry->endpoint:tax-bureau"]'
    )
    expect(tax.locator('[data-test="topology-chain"]')).to_have_text(
        "samr-to-canonical 1.0 › canonical-to-tax 1.0"
    )


def test_health_shows_every_stage_alive(viewer_page: Page, console_hub: ConsoleHub) -> None:
    page = viewer_page
    page.goto(f"{console_hub.url}/console#/health")
    expect(page.locator('[data-test="health-status"]')).to_have_attribute("data-status", "green")
    expect(page.locator('[data-test="health-backbone"]')).to_contain_text("embedded")
    expect(page.locator('[data-test="health-store"]')).to_contain_text("sqlite")
    for stage in ("router", "delivery", "indexer"):
        row = page.locator(f'[data-test="health-stage"][data-stage="{stage}"]')
        expect(row).to_have_attribute("data-alive", "true")
        expect(row.locator('[data-test="health-stage-alive"]')).to_have_text("yes")
    expect(page.locator('[data-test="health-adapter"]')).to_have_count(3)


def _counted(page: Page, hub: ConsoleHub, days: str) -> int:
    """samr-reg's messages in ``days`` (UTC) as the statistics count them (once indexed)."""
    answer = page.context.request.get(f"{hub.url}/console/api/statistics?by=sender&{days}&tz=UTC")
    assert answer.ok, answer.text()
    return sum(
        int(row["messages"]) for row in answer.json()["totals"] if row["sender"] == "samr-reg"
    )


def test_statistics_table_shows_the_sender_and_the_csv_downloads(
    operator_page: Page, console_hub: ConsoleHub, send: Callable[..., str]
) -> None:
    page = operator_page
    # Yesterday to tomorrow: today's messages whatever the browser's time zone.
    today = datetime.now(UTC).date()
    days = f"since={today - timedelta(days=1)}&until={today + timedelta(days=1)}"
    before = _counted(page, console_hub, days)
    send(console_hub)
    wait_for(lambda: _counted(page, console_hub, days) == before + 1)
    page.goto(f"{console_hub.url}/console#/statistics?{days}")
    row = page.locator('[data-test="statistics-row"][data-key="samr-reg"]')
    expect(row).to_have_count(3)  # one a day
    expect(row.first.locator('[data-test="statistics-key"]')).to_have_text("samr-reg")
    expect(page.locator('[data-test="statistics-total"][data-key="samr-reg"]')).to_be_visible()

    with page.expect_download() as started:
        page.locator('[data-test="statistics-csv"]').click()
    download = started.value
    assert download.suggested_filename.endswith(".csv")
    content = download.path().read_bytes()
    assert content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert table[0][3] == "Sender"
    [total] = [line for line in table[1:] if line[0] == "Total" and line[3] == "samr-reg"]
    assert int(total[5]) >= before + 1

    # the same page in Chinese, by the header's switch
    page.locator('[data-test="lang-zh"]').click()
    expect(page.locator("h1")).to_have_text("绩效评估统计")
    expect(page.locator('[data-test="statistics-show"]')).to_have_text("查询")
