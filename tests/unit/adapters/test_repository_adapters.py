"""The repository's adapters against their golden cases and their source types' samples.

One pytest case per golden case and per sample, so ``make test`` names the one that breaks.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from exchange.adapters import AdapterRegistry
from exchange.adapters.testkit import CaseResult, adapter_folder, run_adapter
from exchange.schemas import SchemaRegistry

REPO = Path(__file__).resolve().parents[3]


def _results(home: Path) -> list[CaseResult]:
    adapters = AdapterRegistry.load(home / "adapters", entry_points=False)
    schemas = SchemaRegistry.load(home / "schemas")
    return [
        result
        for adapter in adapters
        for result in run_adapter(
            adapter, schemas, adapter_folder(adapters.origin(adapter.spec.name))
        )
    ]


RESULTS = _results(REPO)


def test_every_repository_adapter_has_golden_cases() -> None:
    golden = {r.adapter for r in RESULTS if r.kind == "golden"}
    assert golden == {"samr-to-canonical", "canonical-to-tax", "canonical-to-hrss"}


@pytest.mark.parametrize("result", RESULTS, ids=lambda r: f"{r.adapter}-{r.kind}-{r.case}")
def test_repository_adapter_case(result: CaseResult) -> None:
    assert result.passed, result.describe()


def test_a_wrong_expected_document_fails_with_a_diff_naming_the_path(tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(REPO / "schemas", home / "schemas")
    shutil.copytree(
        REPO / "adapters" / "samr-to-canonical", home / "adapters" / "samr-to-canonical"
    )
    expected = (
        home / "adapters/samr-to-canonical/tests/guangzhou-nansha-yuanfan-supply-chain.expected.xml"
    )
    text = expected.read_text(encoding="utf-8")
    assert "<Ratio>0.3</Ratio>" in text
    expected.write_text(text.replace("<Ratio>0.3</Ratio>", "<Ratio>30</Ratio>"), encoding="utf-8")

    failed = [r for r in _results(home) if not r.passed]

    assert [(r.kind, r.case) for r in failed] == [
        ("golden", "guangzhou-nansha-yuanfan-supply-chain")
    ]
    diff = failed[0].diff or ""
    assert diff.startswith(
        "first difference at /LegalEntity/Shareholders/Shareholder[2]/Ratio/text(): "
        "'0.3', expected '30'"
    )
    assert "-      <Ratio>30</Ratio>" in diff and "+      <Ratio>0.3</Ratio>" in diff
