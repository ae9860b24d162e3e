from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from exchange.schemas import SchemaRegistry

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry.load(FIXTURES / "set")


@pytest.fixture
def schema_set(tmp_path: Path) -> Path:
    """A writable copy of the fixture schema set, for tests that break it."""
    target = tmp_path / "schemas"
    shutil.copytree(FIXTURES / "set", target)
    return target
