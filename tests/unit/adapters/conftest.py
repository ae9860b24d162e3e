"""Shared fixtures for the adapter tests: the fixture hub home and small builders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from exchange.envelope import Envelope
from exchange.xml import parse

FIXTURES = Path(__file__).parent / "fixtures"

WriteAdapter = Callable[..., Path]


@pytest.fixture
def fixture_adapters() -> Path:
    return FIXTURES / "adapters"


@pytest.fixture
def samr_document() -> etree._ElementTree:
    return parse((FIXTURES / "samr-registration.xml").read_bytes())


@pytest.fixture
def envelope() -> Envelope:
    return Envelope.new(sender="samr.registry", message_type="samr.Registration", message_id="m-1")


@pytest.fixture
def adapters_dir(tmp_path: Path) -> Path:
    path = tmp_path / "adapters"
    path.mkdir()
    return path


@pytest.fixture
def write_adapter(adapters_dir: Path) -> WriteAdapter:
    """Write ``adapters/<folder>/adapter.yaml`` and any extra files; return the folder."""

    def write(folder: str, manifest: str, files: dict[str, str] | None = None) -> Path:
        path = adapters_dir / folder
        path.mkdir()
        (path / "adapter.yaml").write_text(manifest, encoding="utf-8")
        for name, text in (files or {}).items():
            (path / name).write_text(text, encoding="utf-8")
        return path

    return write
