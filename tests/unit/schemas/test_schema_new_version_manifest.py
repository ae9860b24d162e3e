"""A new version registered with ``schemas add`` keeps what the type's manifest said."""

from __future__ import annotations

import shutil
from pathlib import Path

from exchange.schemas import register_schema
from exchange.schemas.manifest import read_manifest

REPO = Path(__file__).resolve().parents[3]
SAMR = REPO / "schemas" / "samr.EnterpriseRegistration" / "1.0"


def test_a_new_version_keeps_owner_titles_and_business_rules(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    shutil.copytree(SAMR, schemas / "samr.EnterpriseRegistration" / "1.0")
    previous = read_manifest(schemas / "samr.EnterpriseRegistration" / "1.0")

    schema = register_schema(
        SAMR / "enterprise-registration.xsd",
        schemas,
        name="samr.EnterpriseRegistration",
        version="1.1",
    )

    manifest = read_manifest(schema.folder)
    assert manifest.owner == previous.owner == "samr"
    assert manifest.titles == previous.titles and "zh" in manifest.titles
    assert manifest.descriptions == previous.descriptions
    assert manifest.rules == previous.rules and manifest.rules
    assert manifest.namespaces["samr"] == previous.namespaces["samr"]
    assert len(schema.rules) == len(previous.rules)
