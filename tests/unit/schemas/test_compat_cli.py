"""``exchange schemas check OLD NEW``: the report, and exit 0 compatible, 1 not, 2 unusable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from exchange.cli import main

FIXTURES = Path(__file__).parent / "compat"
BASE = (FIXTURES / "base.xsd").read_text(encoding="utf-8")
NAME = "t.Registration"
NS = "urn:test:compat:registration:1"


def add_version(home: Path, version: str, xsd: str, extra: str = "") -> Path:
    folder = home / "schemas" / NAME / version
    (folder / "samples" / "valid").mkdir(parents=True)
    (folder / "registration.xsd").write_text(xsd, encoding="utf-8")
    (folder / "manifest.yaml").write_text(
        f'name: {NAME}\nversion: "{version}"\nnamespace: {NS}\nroot: Registration\n'
        f"xsd: registration.xsd\n{extra}",
        encoding="utf-8",
    )
    shutil.copyfile(FIXTURES / "sample.xml", folder / "samples" / "valid" / "counter.xml")
    return folder


@pytest.fixture
def home(tmp_path: Path) -> Path:
    add_version(tmp_path, "1.0", BASE)
    add_version(tmp_path, "1.1", BASE.replace('maxOccurs="3"', 'maxOccurs="unbounded"'))
    add_version(tmp_path, "2.0", BASE.replace('<xs:enumeration value="partnership"/>', ""))
    return tmp_path


def run(home: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main, ["schemas", "check", *args], env={"EXCHANGE_HOME": str(home)}, catch_exceptions=False
    )


def test_a_compatible_version_exits_0(home: Path) -> None:
    result = run(home, f"{NAME}@1.0", f"{NAME}@1.1")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"{NAME} 1.0 → 1.1: BACKWARD compatible"
    assert "1 sample(s) re-validated" in result.output


def test_a_breaking_version_exits_1_with_one_line_per_break(home: Path) -> None:
    result = run(home, f"{NAME}@1.0", f"{NAME}@2.0")

    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == f"{NAME} 1.0 → 2.0: not BACKWARD compatible, 2 breaks"
    assert (
        lines[1]
        .strip()
        .startswith("enumeration-dropped  /Registration/Kind  partnership → (none): ")
    )
    assert (
        lines[2].strip().startswith("sample-invalid  /Registration/Kind  1.0 valid → 2.0 invalid")
    )


def test_mode_option_overrides_the_policy(home: Path) -> None:
    assert run(home, f"{NAME}@1.0", f"{NAME}@1.1", "--mode", "FORWARD").exit_code == 1
    assert run(home, f"{NAME}@1.0", f"{NAME}@2.0", "--mode", "none").exit_code == 0


def test_the_default_mode_is_the_new_versions_policy(home: Path) -> None:
    add_version(
        home, "3.0", BASE.replace('maxOccurs="3"', 'maxOccurs="5"'), "compatibility: FULL\n"
    )

    result = run(home, f"{NAME}@1.0", f"{NAME}@3.0")

    assert result.exit_code == 1
    assert "not FULL compatible" in result.output
    assert "occurrence-widened  /Registration/Phone  0..3 → 0..5" in result.output


def test_folders_and_bare_xsd_files_can_be_compared(home: Path, tmp_path: Path) -> None:
    narrowed = tmp_path / "narrowed.xsd"
    narrowed.write_text(BASE.replace('maxOccurs="3"', 'maxOccurs="1"'), encoding="utf-8")
    folder = home / "schemas" / NAME / "1.0"

    by_folder = run(home, str(folder), str(home / "schemas" / NAME / "1.1"))
    by_file = run(home, str(folder), str(narrowed))

    assert by_folder.exit_code == 0, by_folder.output
    assert by_file.exit_code == 1
    assert "occurrence-narrowed  /Registration/Phone  0..3 → 0..1" in by_file.output


def test_json_report(home: Path) -> None:
    result = run(home, f"{NAME}@1.0", f"{NAME}@2.0", "--json")

    report = json.loads(result.output)
    assert result.exit_code == 1
    assert report["compatible"] is False and report["mode"] == "BACKWARD"
    assert report["breaks"][0]["kind"] == "enumeration-dropped"
    assert report["breaks"][0]["path"] == "/Registration/Kind"


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        (f"{NAME}@1.0", f"{NAME}@9.0", "registered versions: 1.0, 1.1, 2.0"),
        (f"{NAME}@1.0", "nothing-here", "not a file, a folder or a registered TYPE[@VERSION]"),
        (f"{NAME}@1.0", "{folder}", "has no manifest.yaml"),
        (f"{NAME}@1.0", "{broken}", "broken.xsd: the schema does not compile"),
    ],
    ids=["unknown version", "unknown argument", "folder without manifest", "broken xsd"],
)
def test_unusable_input_exits_2(home: Path, tmp_path: Path, old: str, new: str, says: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken.xsd"
    broken.write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:x">'
        '<xs:element name="Registration" type="Nowhere"/></xs:schema>',
        encoding="utf-8",
    )
    new = new.format(folder=empty, broken=broken)

    result = CliRunner().invoke(
        main, ["schemas", "check", old, new], env={"EXCHANGE_HOME": str(home)}
    )

    assert result.exit_code == 2, result.output
    assert result.output.startswith("schemas check: ")
    assert says in result.output


def test_root_picks_the_message_root_of_a_bare_xsd_declaring_several(
    home: Path, tmp_path: Path
) -> None:
    two_roots = BASE.replace(
        '<xs:element name="Registration" type="RegistrationType"/>',
        '<xs:element name="Registration" type="RegistrationType"/>'
        '<xs:element name="Unit" type="UnitType"/>',
    )
    old, new = tmp_path / "old.xsd", tmp_path / "new.xsd"
    old.write_text(two_roots, encoding="utf-8")
    new.write_text(two_roots.replace('maxOccurs="3"', 'maxOccurs="1"'), encoding="utf-8")

    unsaid = run(home, str(old), str(new))
    said = run(home, str(old), str(new), "--root", "Registration")

    assert unsaid.exit_code == 2
    assert "say which is the message root with --root, e.g. --root Registration" in unsaid.output
    assert said.exit_code == 1
    assert "occurrence-narrowed  /Registration/Phone  0..3 → 0..1" in said.output


def test_the_modes_offered_are_the_manifests() -> None:
    from exchange.commands.schemas_check import MODES
    from exchange.schemas.manifest import COMPATIBILITY_MODES

    assert MODES == COMPATIBILITY_MODES


def test_a_type_alone_is_its_newest_version(home: Path) -> None:
    add_version(home, "10.0", BASE)  # numerically newest, not lexically

    result = run(home, f"{NAME}@2.0", NAME)

    assert result.output.splitlines()[0] == f"{NAME} 2.0 → 10.0: BACKWARD compatible"
    assert result.exit_code == 0
