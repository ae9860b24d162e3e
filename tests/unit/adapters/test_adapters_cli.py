"""``exchange adapters``: scaffold, test (green, then red with a diff), translate, list, show."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from exchange.cli import main

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    for part in ("schemas", "adapters", "routes"):
        shutil.copytree(REPO / part, home / part, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("EXCHANGE_HOME", str(home))
    return home


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, ["adapters", *args], catch_exceptions=False)


@pytest.mark.parametrize("kind", ["xslt", "python", "mapping"])
def test_new_then_test_is_green_then_red_with_a_diff(home: Path, kind: str) -> None:
    made = cli(
        "new", "tax-to-hrss", "--from", "tax.TaxpayerRegistration",
        "--to", "hrss.EmployerRegistration", "--kind", kind,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    folder = home / "adapters" / "tax-to-hrss"
    expected = folder / "tests" / "liuzhou-hengtai-machinery.expected.xml"
    assert expected.is_file()

    green = cli("test", "tax-to-hrss")
    assert green.exit_code == 0, green.output
    assert green.output.splitlines()[-1] == "2 passed, 0 failed (1 adapter)"

    text = expected.read_text(encoding="utf-8")
    expected.write_text(text.replace("<UnitType>enterprise<", "<UnitType>individual<"), "utf-8")
    red = cli("test", "tax-to-hrss")
    assert red.exit_code == 1
    assert "FAIL tax-to-hrss golden:liuzhou-hengtai-machinery" in red.output
    assert (
        "first difference at /EmployerRegistration/UnitType/text(): 'enterprise', "
        "expected 'individual'" in red.output
    )
    assert "-  <UnitType>individual</UnitType>" in red.output
    assert red.output.splitlines()[-1] == "1 passed, 1 failed (1 adapter)"


def test_new_refuses_an_unknown_type_or_an_existing_folder(home: Path) -> None:
    typo = cli("new", "x", "--from", "tax.TaxpayerRegistraton", "--to", "hrss.EmployerRegistration")
    assert typo.exit_code == 1
    assert "did you mean 'tax.TaxpayerRegistration'?" in typo.output
    assert not (home / "adapters" / "x").exists()
    taken = cli(
        "new", "canonical-to-tax", "--from", "canonical.LegalEntity",
        "--to", "tax.TaxpayerRegistration",
    )  # fmt: skip
    assert taken.exit_code == 1 and "already exists" in taken.output
    kind = cli("new", "y", "--from", "canonical.LegalEntity", "--to", "hrss.EmployerRegistration",
               "--kind", "xlst")  # fmt: skip
    assert kind.exit_code == 1 and "did you mean 'xslt'?" in kind.output


def test_test_runs_every_adapter_when_none_is_named(home: Path) -> None:
    result = cli("test", "-q")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["15 passed, 0 failed (3 adapters)"]


def test_translate_prints_the_document_and_validation_goes_to_stderr(
    home: Path, tmp_path: Path
) -> None:
    sample = home / "schemas/samr.EnterpriseRegistration/1.0/samples/valid"
    source = sample / "xian-qinchuan-xiaoman-catering.xml"
    result = CliRunner().invoke(main, ["adapters", "translate", "samr-to-canonical", str(source)])
    assert result.exit_code == 0, result.output
    assert "<CreditCode>91610113MA6U8T3L99</CreditCode>" in result.stdout
    assert result.stderr == ""

    out = tmp_path / "out.xml"
    wrote = cli("translate", "samr-to-canonical", str(source), "-o", str(out))
    assert wrote.exit_code == 0 and out.read_text(encoding="utf-8").startswith("<?xml")

    # An input the stylesheet accepts but whose output the target refuses: stderr says why.
    broken = tmp_path / "broken.xml"
    broken.write_text(
        source.read_text(encoding="utf-8").replace("91610113MA6U8T3L99", "not-a-code"), "utf-8"
    )
    refused = CliRunner().invoke(main, ["adapters", "translate", "samr-to-canonical", str(broken)])
    assert refused.exit_code == 1
    assert "<CreditCode>not-a-code</CreditCode>" in refused.stdout
    assert "output is not a valid canonical.LegalEntity" in refused.stderr


def test_list_and_show(home: Path) -> None:
    listed = cli("list")
    assert listed.exit_code == 0
    assert any(
        line.startswith("samr-to-canonical") and "3 tests" in line
        for line in listed.output.splitlines()
    )
    shown = cli("show", "canonical-to-tax")
    assert shown.exit_code == 0
    assert "golden cases (2): guangzhou-gangwan-logistics" in shown.output
    assert (
        "used by: enterprise-registration-to-tax-and-registry → tax-bureau "
        "(samr-to-canonical → canonical-to-tax)" in shown.output
    )
    unknown = cli("show", "canonical-to-taks")
    assert unknown.exit_code == 1 and "did you mean 'canonical-to-tax'" in unknown.output
