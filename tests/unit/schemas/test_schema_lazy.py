"""Lazy compiling: load reads manifests only, validate compiles once, the cache spans loads."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from exchange.errors import ConfigError
from exchange.schemas import SchemaRegistry, cache
from exchange.xml import parse

SAMR = "urn:cn:gov:samr:enterprise-registration:1"


def _break_xsd(schema_set: Path) -> Path:
    common = schema_set / "samr.EnterpriseRegistration" / "1.2" / "types" / "common.xsd"
    common.write_text(
        common.read_text(encoding="utf-8").replace('name="NameType"', 'name="NameTypo"'),
        encoding="utf-8",
    )
    return common


def test_load_does_not_compile_and_validate_compiles_once(schema_set: Path) -> None:
    cache.clear()
    registry = SchemaRegistry.load(schema_set)
    assert not any(schema.compiled for schema in registry)
    schema = registry.lookup("mps.ResidentRecord")
    before = cache.compiles
    schema.validate(parse(b'<r:ResidentRecord xmlns:r="urn:cn:gov:mps:resident:1"/>'))
    assert schema.compiled and cache.compiles == before + 1
    others = [s for s in registry if s is not schema]
    assert others and not any(s.compiled for s in others)  # only the type used was compiled
    schema.validate(parse(b'<r:ResidentRecord xmlns:r="urn:cn:gov:mps:resident:1"/>'))
    assert cache.compiles == before + 1


def test_a_broken_xsd_loads_but_fails_compile_all_naming_the_folder(schema_set: Path) -> None:
    _break_xsd(schema_set)
    registry = SchemaRegistry.load(schema_set)  # the manifests are fine
    with pytest.raises(ConfigError) as caught:
        registry.compile_all()
    assert "samr.EnterpriseRegistration/1.2" in str(caught.value)
    assert "fix the schema" in str(caught.value)


def test_a_reload_reuses_unchanged_folders_and_recompiles_a_changed_one(
    schema_set: Path,
) -> None:
    first = SchemaRegistry.load(schema_set)
    first.compile_all()
    before = cache.compiles
    second = SchemaRegistry.load(schema_set)
    second.compile_all()
    assert cache.compiles == before  # nothing changed: every compiled schema is reused
    for old, new in zip(first, second, strict=True):
        assert old.xsd_check is new.xsd_check

    xsd = schema_set / "mps.ResidentRecord" / "1.0" / "resident-record.xsd"
    assert xsd.is_file()
    xsd.write_text(xsd.read_text(encoding="utf-8") + "\n<!-- edited -->\n", encoding="utf-8")
    title_only = schema_set / "samr.EnterpriseRegistration" / "1.2" / "manifest.yaml"
    title_only.write_text(
        title_only.read_text(encoding="utf-8") + "owner: samr\n", encoding="utf-8"
    )
    third = SchemaRegistry.load(schema_set)
    third.compile_all()
    assert cache.compiles == before + 1  # only the changed XSD; a manifest edit reuses
    assert (
        third.lookup("mps.ResidentRecord").xsd_check
        is not first.lookup("mps.ResidentRecord").xsd_check
    )


def test_concurrent_first_validates_compile_once(schema_set: Path) -> None:
    cache.clear()
    schema = SchemaRegistry.load(schema_set).lookup("mps.ResidentRecord")
    before = cache.compiles
    document = parse(b'<r:ResidentRecord xmlns:r="urn:cn:gov:mps:resident:1"/>')
    start = threading.Barrier(8)
    results: list[int] = []

    def first_use() -> None:
        start.wait()
        results.append(len(schema.validate(document)))

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and len(set(results)) == 1
    assert cache.compiles == before + 1


def test_a_root_the_xsd_does_not_declare_is_refused_at_first_validate(schema_set: Path) -> None:
    manifest = schema_set / "samr.EnterpriseRegistration" / "1.2" / "manifest.yaml"
    manifest.write_text(
        manifest.read_text(encoding="utf-8").replace(
            "root: EnterpriseRegistration", "root: Registration"
        ),
        encoding="utf-8",
    )
    schema = SchemaRegistry.load(schema_set).lookup(f"{{{SAMR}}}Registration")
    with pytest.raises(ConfigError, match="fix namespace or root"):
        schema.validate(parse(f'<r:Registration xmlns:r="{SAMR}"/>'.encode()))
