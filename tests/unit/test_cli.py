"""The ``exchange`` command, run in-process against a copy of the demo home."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from exchange.cli import main
from tests.harness import REPO

SAMR = REPO / "schemas" / "samr.EnterpriseRegistration" / "1.0" / "samples"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    for folder in ("schemas", "adapters", "routes"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    return tmp_path


def run(home: Path, *args: str, **env: str) -> Result:
    environment = {"EXCHANGE_HOME": str(home), "EXCHANGE_DATA_DIR": str(home / "var"), **env}
    return CliRunner().invoke(main, list(args), env=environment, catch_exceptions=False)


def test_schemas_list(home: Path) -> None:
    result = run(home, "schemas", "list")
    assert result.exit_code == 0
    for name in (
        "samr.EnterpriseRegistration",
        "canonical.LegalEntity",
        "tax.TaxpayerRegistration",
    ):
        assert name in result.output


def test_schemas_validate_exit_codes(home: Path, tmp_path: Path) -> None:
    valid = next((SAMR / "valid").glob("*.xml"))
    assert run(home, "schemas", "validate", str(valid)).exit_code == 0
    for invalid in (SAMR / "invalid").glob("*.xml"):
        result = run(home, "schemas", "validate", str(invalid))
        assert result.exit_code == 1, invalid
        assert f"{invalid}:" in result.output  # file:line: path: message [rule]
    unknown = tmp_path / "unknown.xml"
    unknown.write_text('<x xmlns="urn:nobody"/>')
    assert run(home, "schemas", "validate", str(unknown)).exit_code == 2
    assert run(home, "schemas", "validate", str(tmp_path / "missing.xml")).exit_code == 2
    broken = tmp_path / "broken.xml"
    broken.write_text("<a><b></a>")
    assert run(home, "schemas", "validate", str(broken)).exit_code == 2


def test_schemas_add_registers_and_refuses(home: Path, tmp_path: Path) -> None:
    xsd = tmp_path / "household.xsd"
    xsd.write_text(
        """<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
            targetNamespace="urn:cn:gov:mps:household-change:1"
            xmlns="urn:cn:gov:mps:household-change:1" elementFormDefault="qualified">
          <xs:element name="HouseholdChange">
            <xs:complexType><xs:sequence>
              <xs:element name="IdentityNumber" type="xs:string"/>
            </xs:sequence></xs:complexType>
          </xs:element>
        </xs:schema>"""
    )
    result = run(home, "schemas", "add", str(xsd), "--name", "mps.HouseholdChange")
    assert result.exit_code == 0, result.output
    assert (home / "schemas" / "mps.HouseholdChange" / "1.0" / "manifest.yaml").is_file()
    assert "mps.HouseholdChange" in run(home, "schemas", "list").output
    bad = tmp_path / "bad.xsd"
    bad.write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element/></xs:schema>'
    )
    refused = run(home, "schemas", "add", str(bad), "--name", "bad.Thing")
    assert refused.exit_code == 1
    assert "Error" in refused.output


def test_routes_lint(home: Path) -> None:
    result = run(home, "routes", "lint")
    assert result.exit_code == 0, result.output
    routes = home / "routes" / "routes.yaml"
    routes.write_text(routes.read_text().replace("endpoint: tax-bureau", "endpoint: tax-bureua"))
    result = run(home, "routes", "lint")
    assert result.exit_code == 1
    assert "routes.yaml:" in result.output and "tax-bureau" in result.output  # did you mean


def test_keys_lifecycle(home: Path) -> None:
    created = run(home, "keys", "create", "samr-reg")
    assert created.exit_code == 0
    key_id = created.output.split("key id:")[1].split()[0]
    key = created.output.split("key:")[-1].split()[0]
    listed = run(home, "keys", "list").output
    assert key_id in listed and "active" in listed and key not in listed
    assert run(home, "keys", "revoke", key_id).exit_code == 0
    assert "revoked" in run(home, "keys", "list").output
    assert run(home, "keys", "revoke", "nobody").exit_code == 1
    assert run(home, "keys", "create", "not a code!").exit_code == 1


def test_keys_create_viewer(home: Path) -> None:
    created = run(home, "keys", "create", "audit-office", "--viewer")
    assert created.exit_code == 0
    assert "audit-office (viewer)" in created.output
    assert "viewer" in run(home, "keys", "list").output
    both = run(home, "keys", "create", "audit-office", "--viewer", "--operator")
    assert both.exit_code == 2
    assert "--operator or --viewer" in both.output


def test_bad_setting_is_named(home: Path) -> None:
    result = run(home, "schemas", "list", EXCHANGE_MAX_XML_DEPTH="deep")
    assert result.exit_code == 1
    assert "EXCHANGE_MAX_XML_DEPTH" in result.output
    missing = run(home, "schemas", "list", EXCHANGE_HOME=str(home / "nowhere"))
    assert "EXCHANGE_HOME" in missing.output and "does not exist" in missing.output
