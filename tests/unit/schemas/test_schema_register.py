"""register_schema: strict check, root and name, copy with every referenced file, compile."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.errors import ConfigError
from exchange.schemas import SchemaRegistry, default_name, read_manifest, register_schema
from exchange.schemas.compiler import compile_lxml
from exchange.xml import parse

FIXTURES = Path(__file__).parent / "fixtures" / "register"
SAMR = "urn:cn:gov:samr:enterprise-registration:1"


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_copies_includes_and_imports_keeping_their_layout(tmp_path: Path) -> None:
    schema = register_schema(FIXTURES / "src" / "registration.xsd", tmp_path)
    folder = tmp_path / "samr.EnterpriseRegistration" / "1.0"
    assert schema.folder == folder
    assert (schema.name, schema.version, schema.qname) == (
        "samr.EnterpriseRegistration",
        "1.0",
        f"{{{SAMR}}}EnterpriseRegistration",
    )
    assert _files(folder) == {
        "manifest.yaml",
        "src/registration.xsd",
        "src/parts/types.xsd",
        "shared/address.xsd",
    }
    assert (folder / "samples" / "valid").is_dir() and (folder / "samples" / "invalid").is_dir()
    manifest = read_manifest(folder)
    assert manifest.xsd == "src/registration.xsd"
    assert manifest.namespaces == {"samr": SAMR}


def test_registered_schema_loads_and_validates(tmp_path: Path) -> None:
    register_schema(FIXTURES / "src" / "registration.xsd", tmp_path, version="2.0")
    schema = SchemaRegistry.load(tmp_path).lookup("samr.EnterpriseRegistration")
    assert schema.version == "2.0"
    document = (
        f'<r:EnterpriseRegistration xmlns:r="{SAMR}" xmlns:a="urn:test:address" xml:lang="zh">'
        "<r:CreditCode>91350100M000100Y43</r:CreditCode><a:Address>Fuzhou</a:Address>"
        "</r:EnterpriseRegistration>"
    ).encode()
    assert schema.validate(parse(document)) == []
    too_short = document.replace(b"Y43<", b"Y4<")
    assert [p.rule for p in schema.validate(parse(too_short))] == ["xsd"]


def test_refuses_an_existing_folder(tmp_path: Path) -> None:
    register_schema(FIXTURES / "src" / "registration.xsd", tmp_path)
    with pytest.raises(ConfigError, match="already exists; register under another version"):
        register_schema(FIXTURES / "src" / "registration.xsd", tmp_path)


def test_refuses_a_schema_libxml2_accepts_but_xsd_forbids(tmp_path: Path) -> None:
    xsd = FIXTURES / "inconsistent.xsd"
    compile_lxml(xsd, xsd.parent)  # libxml2 lets it through ...
    with pytest.raises(ConfigError) as caught:  # ... the strict check does not
        register_schema(xsd, tmp_path)
    assert "Element Declarations Consistent" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_refuses_a_broken_schema_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="noSuchType"):
        register_schema(FIXTURES / "broken.xsd", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_several_global_elements_need_a_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        register_schema(FIXTURES / "two-roots.xsd", tmp_path)
    message = str(caught.value)
    assert "Declaration, Correction" in message and "--name tax.Declaration" in message
    schema = register_schema(FIXTURES / "two-roots.xsd", tmp_path, name="tax.Correction")
    assert schema.root == "Correction"


def test_root_can_be_given_explicitly(tmp_path: Path) -> None:
    schema = register_schema(FIXTURES / "two-roots.xsd", tmp_path, root="Declaration")
    assert (schema.name, schema.root) == ("tax.Declaration", "Declaration")
    with pytest.raises(ConfigError, match="has no global element 'Nope'"):
        register_schema(FIXTURES / "two-roots.xsd", tmp_path, root="Nope", version="2")


@pytest.mark.parametrize(
    ("namespace", "root", "expected"),
    [
        (SAMR, "EnterpriseRegistration", "samr.EnterpriseRegistration"),
        ("http://example.org/schemas/tax/v2", "Declaration", "tax.Declaration"),
        ("urn:cn:gov:mps:household:1.0", "Move", "household.Move"),
        ("urn:1", "Thing", "Thing"),
    ],
)  # fmt: skip
def test_default_name(namespace: str, root: str, expected: str) -> None:
    assert default_name(namespace, root) == expected


def test_refuses_a_missing_file_and_a_bad_version(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        register_schema(tmp_path / "nope.xsd", tmp_path)
    with pytest.raises(ConfigError, match="dotted numbers"):
        register_schema(FIXTURES / "broken.xsd", tmp_path, version="latest")


def test_refuses_a_schema_that_needs_the_network(tmp_path: Path) -> None:
    remote = Path(__file__).parent / "fixtures" / "w3c" / "remote.xsd"
    with pytest.raises(ConfigError, match=r"http://example\.invalid/x\.xsd"):
        register_schema(remote, tmp_path / "schemas")
    assert not (tmp_path / "schemas").exists()
