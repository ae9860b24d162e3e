"""Registering a new version runs the compatibility check: refused, accepted, or forced."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from exchange.cli import main
from exchange.schemas import SchemaRegistry
from exchange.schemas.compat import IncompatibleSchema
from exchange.schemas.manifest import read_manifest
from exchange.schemas.register import register_schema

FIXTURES = Path(__file__).parent / "compat"
BASE = (FIXTURES / "base.xsd").read_text(encoding="utf-8")
NAME = "t.Registration"


@pytest.fixture
def schemas_dir(tmp_path: Path) -> Path:
    """A schema set holding version 1.0 of the fixture type, with its valid sample."""
    target = tmp_path / "schemas"
    register_schema(FIXTURES / "base.xsd", target, name=NAME, version="1.0")
    shutil.copyfile(FIXTURES / "sample.xml", target / NAME / "1.0" / "samples" / "valid" / "s.xml")
    return target


def new_xsd(tmp_path: Path, old: str, new: str) -> Path:
    assert old in BASE
    path = tmp_path / "next" / "registration.xsd"
    path.parent.mkdir(exist_ok=True)
    path.write_text(BASE.replace(old, new), encoding="utf-8")
    return path


def test_a_breaking_version_is_refused_and_leaves_nothing_behind(
    schemas_dir: Path, tmp_path: Path
) -> None:
    xsd = new_xsd(tmp_path, '<xs:enumeration value="partnership"/>', "")

    with pytest.raises(IncompatibleSchema) as caught:
        register_schema(xsd, schemas_dir, name=NAME, version="2.0")

    assert "enumeration-dropped  /Registration/Kind  partnership → (none)" in str(caught.value)
    assert sorted(p.name for p in (schemas_dir / NAME).iterdir()) == ["1.0"]


def test_a_compatible_version_is_accepted(schemas_dir: Path, tmp_path: Path) -> None:
    xsd = new_xsd(tmp_path, 'maxOccurs="3"', 'maxOccurs="unbounded"')

    schema = register_schema(xsd, schemas_dir, name=NAME, version="2.0")

    assert schema.version == "2.0"
    assert read_manifest(schema.folder).accepted_breaks is None


def test_a_forced_version_comes_in_with_its_breaks_recorded(
    schemas_dir: Path, tmp_path: Path
) -> None:
    xsd = new_xsd(tmp_path, '<xs:attribute name="channel" type="xs:string"/>', "")

    schema = register_schema(xsd, schemas_dir, name=NAME, version="2.0", force=True)

    accepted = read_manifest(schema.folder).accepted_breaks
    assert accepted is not None and accepted["against"] == "1.0"
    assert [(b["kind"], b["path"]) for b in accepted["breaks"]] == [
        ("attribute-removed", "/Registration/@channel"),
        ("sample-invalid", "/Registration"),
    ]
    versions = [s.version for s in SchemaRegistry.load(schemas_dir)]
    assert versions == ["1.0", "2.0"]  # the recorded manifest loads like any other


def test_schemas_add_refuses_then_forces(schemas_dir: Path, tmp_path: Path) -> None:
    xsd = new_xsd(tmp_path, 'maxOccurs="3"', 'maxOccurs="1"')
    env = {"EXCHANGE_HOME": str(schemas_dir.parent)}
    add = ["schemas", "add", str(xsd), "--name", NAME, "--version", "2.0"]

    refused = CliRunner().invoke(main, add, env=env)
    forced = CliRunner().invoke(main, [*add, "--force"], env=env)

    assert refused.exit_code != 0
    assert "occurrence-narrowed  /Registration/Phone  0..3 → 0..1" in refused.output
    assert forced.exit_code == 0, forced.output
    assert (schemas_dir / NAME / "2.0" / "manifest.yaml").is_file()
