"""Reading manifest.yaml: the shape is checked and mistakes are named with their fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exchange.errors import ConfigError
from exchange.schemas.manifest import RuleSpec, parse_manifest, read_manifest, version_key

FIXTURES = Path(__file__).parent / "fixtures"

GOOD: dict[str, Any] = {
    "name": "samr.EnterpriseRegistration",
    "version": "1.0",
    "namespace": "urn:test",
    "root": "Root",
    "xsd": "root.xsd",
}


def test_reads_the_fixture_manifest() -> None:
    folder = FIXTURES / "set" / "samr.EnterpriseRegistration" / "1.2"
    manifest = read_manifest(folder)
    assert manifest.name == "samr.EnterpriseRegistration"
    assert manifest.version == "1.2"
    assert manifest.title == "Enterprise registration (企业设立登记)"
    assert manifest.xsd_path == folder / "enterprise-registration.xsd"
    assert manifest.xsd_version == "1.0"
    assert manifest.namespaces == {"samr": "urn:cn:gov:samr:enterprise-registration:1"}
    assert manifest.rules[0] == RuleSpec(
        rule="uscc", path="/samr:EnterpriseRegistration/samr:Enterprise/samr:CreditCode"
    )


def test_round_trips_through_yaml(tmp_path: Path) -> None:
    manifest = parse_manifest({**GOOD, "rules": [{"rule": "uscc", "path": "/a"}]}, tmp_path)
    (tmp_path / "manifest.yaml").write_text(manifest.to_yaml(), encoding="utf-8")
    assert read_manifest(tmp_path) == manifest


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"namspaces": {}}, "did you mean 'namespaces'?"),
        ({"version": 1.1}, 'quoted string, e.g. version: "1.1"'),
        ({"version": "1.0-draft"}, "dotted numbers"),
        ({"root": None}, "missing root"),
        ({"xsd_version": "2.0"}, '"1.0" or "1.1"'),
        ({"name": "has space"}, "letters, digits"),
        ({"rules": {"rule": "uscc"}}, "rules must be a list"),
        ({"rules": [{"rule": "uscc"}]}, "rule #1 must have exactly the keys rule and path"),
        ({"namespaces": ["samr"]}, "namespaces must map prefixes"),
    ],
)
def test_refuses_bad_manifests(tmp_path: Path, change: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_manifest({**GOOD, **change}, tmp_path)
    assert expected in str(caught.value)
    assert str(tmp_path / "manifest.yaml") in str(caught.value)


def test_refuses_invalid_yaml(tmp_path: Path) -> None:
    (tmp_path / "manifest.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_manifest(tmp_path)


def test_versions_compare_numerically() -> None:
    assert version_key("1.10") > version_key("1.2")
    assert version_key("2") > version_key("1.99")
    assert version_key("1") == version_key("1.0") == version_key("1.0.0")
