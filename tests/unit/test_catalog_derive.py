"""The catalogue derived from the repository's own home: owners, versions, files, parties."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from exchange.catalog import UnknownCatalogueType, catalogue_of, derive
from exchange.cli import main
from exchange.ruleset import RuleSet
from tests.harness import REPO

SAMR = "samr.EnterpriseRegistration"


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return RuleSet.load(REPO)


def test_every_demo_type_has_an_owner_and_both_languages(rules: RuleSet) -> None:
    catalogue = derive(rules)
    owners = {entry.name: entry.owner for entry in catalogue}
    assert owners == {
        "canonical.LegalEntity": "exchange",
        "hrss.EmployerRegistration": "hrss",
        SAMR: "samr",
        "tax.TaxpayerRegistration": "chinatax",
    }
    for entry in catalogue:
        assert set(entry.titles) == {"en", "zh"}, entry.name
        assert set(entry.descriptions) == {"en", "zh"}, entry.name
    assert catalogue.get(SAMR).title("zh") == "企业设立登记"


def test_publishers_come_from_senders_yaml(rules: RuleSet) -> None:
    catalogue = derive(rules)
    samr = {p.code: p.any_type for p in catalogue.get(SAMR).publishers}
    assert samr == {"samr-reg": False, "demo-console": True}
    canonical = {p.code for p in catalogue.get("canonical.LegalEntity").publishers}
    assert canonical == {"legal-entity-registry", "demo-console"}


def test_subscribers_carry_the_chain_the_router_would_use(rules: RuleSet) -> None:
    subscribers = {s.endpoint: s for s in derive(rules).get(SAMR).subscribers}
    assert set(subscribers) == {"tax-bureau", "legal-entity-registry", "social-security"}
    tax = subscribers["tax-bureau"]
    assert tax.adapters == ("samr-to-canonical", "canonical-to-tax")
    assert not tax.adapters_explicit and tax.kind == "soap"
    assert tax.format == "tax.TaxpayerRegistration"
    assert tax.title and "税务局" in tax.title
    assert subscribers["legal-entity-registry"].adapters == ("samr-to-canonical",)
    assert subscribers["legal-entity-registry"].adapters_explicit
    social = subscribers["social-security"]
    assert social.adapters == ("samr-to-canonical", "canonical-to-hrss")
    assert social.xpath == ("number(/samr:EnterpriseRegistration/samr:EmployeeCount) > 0",)
    assert social.senders == ("samr-reg",)
    assert derive(rules).get("tax.TaxpayerRegistration").subscribers == ()


def test_versions_list_their_xsds_and_samples(rules: RuleSet) -> None:
    version = derive(rules).get(SAMR).version("1")
    assert version.version == "1.0"
    assert version.xsd == "enterprise-registration.xsd"
    assert version.xsd_files == ("common-types.xsd", "enterprise-registration.xsd")
    assert "samples/valid/nanning-qinghe-data-technology.xml" in version.samples_valid
    assert "samples/invalid/missing-legal-representative.xml" in version.samples_invalid
    assert all((version.folder / name).is_file() for name in version.files)


def test_unknown_type_and_version_say_what_exists(rules: RuleSet) -> None:
    catalogue = derive(rules)
    with pytest.raises(UnknownCatalogueType, match=r"did you mean 'samr\.EnterpriseRegistration'"):
        catalogue.get("samr.EnterpriseRegistraton")
    with pytest.raises(UnknownCatalogueType, match=r"known versions: 1\.0"):
        catalogue.get(SAMR).version("2.0")
    qname = "{urn:cn:gov:samr:enterprise-registration:1}EnterpriseRegistration"
    assert catalogue.get(qname).name == SAMR


def test_derived_once_per_rule_set(rules: RuleSet) -> None:
    first = catalogue_of(rules)
    assert catalogue_of(rules) is first
    other = RuleSet(
        home=rules.home, schemas=rules.schemas, adapters=rules.adapters, routing=rules.routing
    )
    assert catalogue_of(other) is not first


def _cli(*args: str) -> str:
    environment = {"EXCHANGE_HOME": str(REPO), "EXCHANGE_DATA_DIR": "/nonexistent-not-used"}
    result = CliRunner().invoke(main, ["catalog", *args], env=environment)
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_lists_types_with_chinese_titles() -> None:
    output = _cli()
    lines = output.splitlines()
    assert lines[0].split() == ["TYPE", "VERSIONS", "OWNER", "TITLE", "PUBLISHERS", "SUBSCRIBERS"]
    samr = next(line for line in lines if line.startswith(SAMR))
    assert "企业设立登记" in samr and "samr-reg" in samr and "tax-bureau" in samr


def test_cli_detail_shows_chains_and_json_is_the_api_shape() -> None:
    output = _cli(SAMR)
    assert "adapters: samr-to-canonical → canonical-to-tax (resolved)" in output
    assert "xsd     common-types.xsd" in output
    detail = json.loads(_cli(SAMR, "--json"))
    assert detail["owner"] == "samr"
    assert detail["title"]["zh"] == "企业设立登记"
    assert [s["endpoint"] for s in detail["subscribers"]] == [
        "tax-bureau",
        "legal-entity-registry",
        "social-security",
    ]


def test_cli_unknown_type_exits_1_with_a_hint(tmp_path: Path) -> None:
    environment = {"EXCHANGE_HOME": str(REPO), "EXCHANGE_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(main, ["catalog", "tax.Taxpayer"], env=environment)
    assert result.exit_code == 1
    assert "did you mean 'tax.TaxpayerRegistration'" in result.output


def test_cli_reads_manifests_without_compiling_schemas(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for part in ("schemas", "adapters", "routes"):
        shutil.copytree(REPO / part, home / part, ignore=shutil.ignore_patterns("__pycache__"))
    # An XSD that would not compile: the catalogue needs only the manifest beside it.
    (
        home / "schemas" / "tax.TaxpayerRegistration" / "1.0" / "taxpayer-registration.xsd"
    ).write_text("<not-a-schema", encoding="utf-8")
    environment = {"EXCHANGE_HOME": str(home), "EXCHANGE_DATA_DIR": str(tmp_path / "var")}
    result = CliRunner().invoke(main, ["catalog"], env=environment)
    assert result.exit_code == 0, result.output
    assert any(line.startswith("tax.TaxpayerRegistration") for line in result.output.splitlines())
