"""The console's page says what to run when its chart library was never fetched."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.console import shell


def test_the_page_says_to_run_make_console_assets_when_the_vendor_files_are_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(shell, "VENDOR", tmp_path / "vendor")

    assert shell.missing_assets() == ["uPlot.iife.min.js", "uPlot.min.css"]
    page = shell.page_html()
    assert 'data-test="assets-missing"' in page
    assert "make console-assets" in page


def test_the_page_has_no_notice_once_the_vendor_files_are_there(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    for name in shell.VENDOR_FILES:
        (vendor / name).write_text("/* fetched */", encoding="utf-8")
    monkeypatch.setattr(shell, "VENDOR", vendor)

    assert shell.missing_assets() == []
    page = shell.page_html()
    assert "assets-missing" not in page
    assert '<script type="module" src="/console/static/app.js"></script>' in page
