"""``exchange schemas add --root / --force`` and a one-type ``schemas validate``, in-process."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from exchange.cli import main
from exchange.schemas import SchemaRegistry, cache

NIEM = Path(__file__).parent / "fixtures" / "niem" / "person-exchange.xsd"
NC = "http://release.niem.gov/niem/niem-core/4.0/"
ORDER = """<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:test:order"
  elementFormDefault="qualified"><xs:element name="Order"><xs:complexType><xs:sequence>
  <xs:element name="Id" type="xs:string"/>{extra}</xs:sequence></xs:complexType></xs:element>
</xs:schema>"""


def run(home: Path, *args: str) -> Result:
    environment = {"EXCHANGE_HOME": str(home), "EXCHANGE_DATA_DIR": str(home / "var")}
    return CliRunner().invoke(main, list(args), env=environment, catch_exceptions=False)


def test_add_with_an_imported_root(tmp_path: Path) -> None:
    result = run(tmp_path, "schemas", "add", str(NIEM), "--root", "nc:Person")
    assert result.exit_code == 0, result.output
    assert f"registered person-exchange.Person 1.0 ({{{NC}}}Person)" in result.output


def test_add_refuses_a_breaking_version_and_force_records_it(tmp_path: Path) -> None:
    (tmp_path / "v1.xsd").write_text(ORDER.format(extra=""), "utf-8")
    breaking = ORDER.format(extra='<xs:element name="Total" type="xs:decimal"/>')
    (tmp_path / "v2.xsd").write_text(breaking, "utf-8")
    assert run(tmp_path, "schemas", "add", str(tmp_path / "v1.xsd")).exit_code == 0

    refused = run(tmp_path, "schemas", "add", str(tmp_path / "v2.xsd"), "--version", "2.0")
    assert refused.exit_code == 1
    assert "not BACKWARD compatible" in refused.output and "Total" in refused.output

    forced = run(
        tmp_path, "schemas", "add", str(tmp_path / "v2.xsd"), "--version", "2.0", "--force"
    )
    assert forced.exit_code == 0, forced.output
    assert "registered test.Order 2.0" in forced.output
    assert "accepted compatibility break(s) against 1.0" in forced.output


def test_validate_compiles_only_the_type_it_needs(tmp_path: Path) -> None:
    for version in ("1.0", "1.1", "1.2"):
        # Each version's files differ, so each would be a compile of its own.
        text = ORDER.format(extra="") + f"<!-- {version} -->"
        (tmp_path / "o.xsd").write_text(text, "utf-8")
        run(tmp_path, "schemas", "add", str(tmp_path / "o.xsd"), "--version", version)
    assert len(SchemaRegistry.load(tmp_path / "schemas")) == 3
    document = tmp_path / "order.xml"
    document.write_text('<o:Order xmlns:o="urn:test:order"><o:Id>1</o:Id></o:Order>', "utf-8")
    cache.clear()
    before = cache.compiles
    result = run(tmp_path, "schemas", "validate", str(document))
    assert result.exit_code == 0 and "valid test.Order 1.2" in result.output
    assert cache.compiles == before + 1
