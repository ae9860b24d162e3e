"""Compatibility between two versions of a message type: structure, samples, modes, the guard.

Every case starts from ``compat/base.xsd`` (version 1.0, with ``compat/sample.xml`` as its valid
sample) and changes one thing of it to make version 2.0.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import xmlschema
import yaml

from exchange.errors import ConfigError
from exchange.schemas.compat import IncompatibleSchema, check, guard_registration
from exchange.schemas.manifest import read_manifest
from exchange.schemas.message import MessageSchema

FIXTURES = Path(__file__).parent / "compat"
BASE = (FIXTURES / "base.xsd").read_text(encoding="utf-8")
NAME = "t.Registration"
NS = "urn:test:compat:registration:1"


def make_version(
    schemas_dir: Path,
    version: str,
    xsd: str = BASE,
    *,
    root: str = "Registration",
    namespace: str = NS,
    extra: str = "",
    samples: bool = True,
) -> MessageSchema:
    """``schemas_dir/t.Registration/<version>/`` with ``xsd``, a manifest and the sample."""
    folder = schemas_dir / NAME / version
    (folder / "samples" / "valid").mkdir(parents=True)
    (folder / "registration.xsd").write_text(xsd, encoding="utf-8")
    (folder / "manifest.yaml").write_text(
        f'name: {NAME}\nversion: "{version}"\nnamespace: {namespace}\nroot: {root}\n'
        f"xsd: registration.xsd\n{extra}",
        encoding="utf-8",
    )
    if samples:
        shutil.copyfile(FIXTURES / "sample.xml", folder / "samples" / "valid" / "counter.xml")
    return MessageSchema.from_manifest(read_manifest(folder))


def edited(old: str, new: str) -> str:
    assert old in BASE, f"the fixture no longer contains {old!r}"
    return BASE.replace(old, new)


def pair(tmp_path: Path, xsd: str, **kwargs: str) -> tuple[MessageSchema, MessageSchema]:
    return make_version(tmp_path, "1.0"), make_version(tmp_path, "2.0", xsd, **kwargs)


def kinds_at(report_breaks: object) -> set[tuple[str, str]]:
    return {(b.kind, b.path) for b in report_breaks}  # type: ignore[attr-defined]


NAME_ELEMENT = '<xs:element name="Name" type="NameType"/>'
KIND_ELEMENT = '<xs:element name="Kind" type="KindCode"/>'
PHONE = '<xs:element name="Phone" type="xs:string" minOccurs="0" maxOccurs="3"/>'
CHANNEL = '<xs:attribute name="channel" type="xs:string"/>'
FAX = '<xs:element name="Fax" type="xs:string" minOccurs="0"/>'
LABEL = '<xs:element name="Label" type="xs:string"/>'

#: (what changed, old text, new text, the break BACKWARD must name, at this path)
BREAKING = [
    ("element removed", '<xs:element name="Kind" type="KindCode"/>', "",
     "element-removed", "/Registration/Kind"),
    ("new required element", PHONE, PHONE + '<xs:element name="Email" type="xs:string"/>',
     "element-required", "/Registration/Email"),
    ("minOccurs raised", 'minOccurs="0" maxOccurs="3"', 'minOccurs="1" maxOccurs="3"',
     "occurrence-narrowed", "/Registration/Phone"),
    ("maxOccurs lowered", 'maxOccurs="3"', 'maxOccurs="2"',
     "occurrence-narrowed", "/Registration/Phone"),
    ("base type narrowed", 'name="Capital" type="xs:decimal"', 'name="Capital" type="xs:integer"',
     "type-restricted", "/Registration/Capital"),
    ("maxLength tightened", '<xs:maxLength value="100"/>', '<xs:maxLength value="50"/>',
     "facet-tightened", "/Registration/Name"),
    ("length introduced", '<xs:minLength value="2"/>\n      <xs:maxLength value="100"/>',
     '<xs:length value="10"/>', "facet-tightened", "/Registration/Name"),
    ("pattern changed", "[0-9]{17}[0-9X]", "[0-9]{18}",
     "facet-tightened", "/Registration/LegalRepresentative/IdentityNumber"),
    ("upper bound lowered", '<xs:maxInclusive value="100000"/>', '<xs:maxInclusive value="500"/>',
     "facet-tightened", "/Registration/Employees"),
    ("totalDigits added", '<xs:maxInclusive value="100000"/>',
     '<xs:maxInclusive value="100000"/><xs:totalDigits value="3"/>',
     "facet-tightened", "/Registration/Employees"),
    ("enumeration value dropped", '<xs:enumeration value="partnership"/>', "",
     "enumeration-dropped", "/Registration/Kind"),
    ("attribute removed", CHANNEL, "", "attribute-removed", "/Registration/@channel"),
    ("attribute made required", CHANNEL,
     '<xs:attribute name="channel" type="xs:string" use="required"/>',
     "attribute-required", "/Registration/@channel"),
    ("new required attribute", CHANNEL,
     CHANNEL + '<xs:attribute name="office" type="xs:string" use="required"/>',
     "attribute-required", "/Registration/@office"),
    ("inside a recursive type", LABEL, LABEL + '<xs:element name="Code" type="xs:string"/>',
     "element-required", "/Registration/Unit/Code"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "kind", "path"),
    [case[1:] for case in BREAKING],
    ids=[case[0] for case in BREAKING],
)
def test_each_backward_break_is_named_with_its_path(
    tmp_path: Path, old: str, new: str, kind: str, path: str
) -> None:
    v1, v2 = pair(tmp_path, edited(old, new))

    report = check(v1, v2, "BACKWARD")

    assert not report.compatible
    assert (kind, path) in kinds_at(report.breaks), report.render()
    found = next(b for b in report.breaks if (b.kind, b.path) == (kind, path))
    assert found.message and found.direction == "backward"
    assert found.line().startswith(f"{kind}  {path}  ")


def test_the_break_says_what_old_and_new_say(tmp_path: Path) -> None:
    v1, v2 = pair(tmp_path, edited('<xs:maxLength value="100"/>', '<xs:maxLength value="50"/>'))

    (found,) = check(v1, v2, "BACKWARD").breaks

    assert (found.old, found.new) == ("maxLength 100", "maxLength 50")
    assert "maxLength 100 → maxLength 50" in found.line()


def test_a_break_inside_a_recursive_type_is_reported_once(tmp_path: Path) -> None:
    # UnitType contains Unit of UnitType: the walk must stop at the pair it has already seen.
    v1, v2 = pair(tmp_path, edited(LABEL, LABEL + '<xs:element name="Code" type="xs:string"/>'))

    structural = [b for b in check(v1, v2, "BACKWARD").breaks if b.kind != "sample-invalid"]

    assert [(b.kind, b.path) for b in structural] == [
        ("element-required", "/Registration/Unit/Code")
    ]


def test_namespace_and_root_changes_are_breaks(tmp_path: Path) -> None:
    v1 = make_version(tmp_path, "1.0")
    moved = BASE.replace(NS, "urn:test:compat:registration:2")
    v2 = make_version(tmp_path, "2.0", moved, namespace="urn:test:compat:registration:2")
    renamed = BASE.replace('name="Registration"', 'name="Filing"')
    v3 = make_version(tmp_path, "3.0", renamed, root="Filing")

    assert kinds_at(check(v1, v2, "BACKWARD").breaks) >= {("namespace-changed", "/Registration")}
    assert kinds_at(check(v1, v3, "BACKWARD").breaks) >= {("root-changed", "/Registration")}


#: (what changed, old text, new text, the break FORWARD must name, at this path)
WIDENING = [
    ("optional element added", PHONE, PHONE + FAX,
     "element-added", "/Registration/Fax"),
    ("enumeration widened", '<xs:enumeration value="partnership"/>',
     '<xs:enumeration value="partnership"/><xs:enumeration value="cooperative"/>',
     "enumeration-added", "/Registration/Kind"),
    ("maxOccurs raised", 'maxOccurs="3"', 'maxOccurs="unbounded"',
     "occurrence-widened", "/Registration/Phone"),
    ("maxLength loosened", '<xs:maxLength value="100"/>', '<xs:maxLength value="200"/>',
     "facet-loosened", "/Registration/Name"),
    ("base type widened", 'name="Employees" type="CountType"', 'name="Employees" type="xs:decimal"',
     "type-widened", "/Registration/Employees"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "kind", "path"),
    [case[1:] for case in WIDENING],
    ids=[case[0] for case in WIDENING],
)
def test_a_compatible_change_passes_backward_and_fails_forward(
    tmp_path: Path, old: str, new: str, kind: str, path: str
) -> None:
    v1, v2 = pair(tmp_path, edited(old, new))

    backward = check(v1, v2, "BACKWARD")
    forward = check(v1, v2, "FORWARD")

    assert backward.compatible, backward.render()
    assert (kind, path) in kinds_at(forward.breaks), forward.render()
    assert all(b.direction == "forward" for b in forward.breaks)
    assert not check(v1, v2, "FULL").compatible


def test_forward_states_old_and_new_in_their_own_places(tmp_path: Path) -> None:
    v1, v2 = pair(tmp_path, edited('maxOccurs="3"', 'maxOccurs="5"'))

    (found,) = check(v1, v2, "FORWARD").breaks

    assert (found.kind, found.old, found.new) == ("occurrence-widened", "0..3", "0..5")
    assert found.message == "NEW allows 0..5 occurrences where OLD allows 0..3"


def test_full_reports_both_directions_and_none_checks_nothing(tmp_path: Path) -> None:
    both = edited(PHONE, '<xs:element name="Fax" type="xs:string" minOccurs="0"/>')
    v1, v2 = pair(tmp_path, both)  # Phone removed (backward), Fax added (forward)

    full = check(v1, v2, "FULL")
    none = check(v1, v2, "NONE")

    assert {b.direction for b in full.breaks} == {"backward", "forward"}
    assert ("element-removed", "/Registration/Phone") in kinds_at(full.breaks)
    assert ("element-added", "/Registration/Fax") in kinds_at(full.breaks)
    assert none.compatible and none.samples_checked == 0
    assert "not checked" in none.summary()


def test_an_unknown_mode_is_refused(tmp_path: Path) -> None:
    v1, v2 = pair(tmp_path, BASE)
    with pytest.raises(ConfigError, match="use one of BACKWARD, FORWARD, FULL, NONE"):
        check(v1, v2, "SIDEWAYS")


def test_old_samples_are_revalidated_under_new(tmp_path: Path) -> None:
    v1, v2 = pair(tmp_path, edited('<xs:enumeration value="partnership"/>', ""))

    report = check(v1, v2, "BACKWARD")

    samples = [b for b in report.breaks if b.kind == "sample-invalid"]
    assert report.samples_checked == 1
    assert len(samples) == 1
    assert samples[0].path == "/Registration/Kind"  # readable, not lxml's /*/*[2]
    assert "counter.xml" in samples[0].message and "partnership" in samples[0].message


def test_a_sample_catches_what_the_structure_walk_cannot_see(tmp_path: Path) -> None:
    # The children reordered: the walk compares children by name, not by position.
    reordered = edited(
        f"{NAME_ELEMENT}\n      {KIND_ELEMENT}",
        f"{KIND_ELEMENT}\n      {NAME_ELEMENT}",
    )
    v1, v2 = pair(tmp_path, reordered)

    report = check(v1, v2, "BACKWARD")

    assert [b.kind for b in report.breaks] == ["sample-invalid"]


def test_identical_versions_are_compatible_in_every_mode(tmp_path: Path) -> None:
    v1, v2 = pair(tmp_path, BASE)
    for mode in ("BACKWARD", "FORWARD", "FULL"):
        report = check(v1, v2, mode)
        assert report.compatible, report.render()
        assert report.summary() == f"{NAME} 1.0 → 2.0: {mode} compatible"


def test_a_real_world_schema_compares_with_itself_and_with_a_change(tmp_path: Path) -> None:
    """XHTML 1.0 Strict (shipped with xmlschema): ~100 elements, groups, refs, attribute groups."""
    source = Path(xmlschema.__file__).parent / "schemas" / "XHTML" / "xhtml1-strict.xsd"
    text = source.read_text(encoding="utf-8")
    folders = {}
    for version, xsd in (
        ("1.0", text),
        ("2.0", text.replace('<xs:enumeration value="poly"/>', "")),
    ):
        folder = tmp_path / "xhtml" / version
        folder.mkdir(parents=True)
        (folder / "xhtml.xsd").write_text(xsd, encoding="utf-8")
        (folder / "manifest.yaml").write_text(
            f'name: xhtml\nversion: "{version}"\nnamespace: http://www.w3.org/1999/xhtml\n'
            "root: html\nxsd: xhtml.xsd\n",
            encoding="utf-8",
        )
        folders[version] = MessageSchema.from_manifest(read_manifest(folder))

    same = check(folders["1.0"], folders["1.0"], "FULL")
    changed = check(folders["1.0"], folders["2.0"], "BACKWARD")

    assert same.compatible, same.render()
    dropped = {b.path for b in changed.breaks if b.kind == "enumeration-dropped"}
    # A shared type is compared once, at the first path that reaches it: <a> and <area>.
    assert {path.rsplit("/", 2)[-2] for path in dropped} == {"a", "area"}
    assert all(path.endswith("/@shape") for path in dropped)


# -- the guard register_schema calls -------------------------------------------------------


def test_guard_without_an_older_version_has_nothing_to_say(tmp_path: Path) -> None:
    first = make_version(tmp_path, "1.0")
    assert guard_registration(first, tmp_path, force=False) is None


def test_guard_accepts_a_compatible_version(tmp_path: Path) -> None:
    make_version(tmp_path, "1.0")
    v2 = make_version(tmp_path, "2.0", edited('maxOccurs="3"', 'maxOccurs="9"'))

    report = guard_registration(v2, tmp_path, force=False)

    assert report is not None and report.compatible and report.old_version == "1.0"


def test_guard_refuses_a_breaking_version_naming_the_path(tmp_path: Path) -> None:
    make_version(tmp_path, "1.0")
    make_version(tmp_path, "1.5", edited('maxOccurs="3"', 'maxOccurs="9"'))
    v2 = make_version(tmp_path, "2.0", edited('<xs:enumeration value="partnership"/>', ""))

    with pytest.raises(IncompatibleSchema) as caught:
        guard_registration(v2, tmp_path, force=False)

    assert isinstance(caught.value, ConfigError)
    assert caught.value.report.old_version == "1.5"  # the newest older version
    first, *each = str(caught.value).splitlines()
    assert first.startswith(f"{NAME} 1.5 → 2.0: not BACKWARD compatible, 3 breaks; ")
    assert "--force" in first
    assert [line.split()[:2] for line in each] == [
        ["enumeration-dropped", "/Registration/Kind"],
        ["occurrence-narrowed", "/Registration/Phone"],  # 1.5 allowed 9, 2.0 is back to 3
        ["sample-invalid", "/Registration/Kind"],
    ]


def test_forced_breaks_are_recorded_in_the_new_manifest(tmp_path: Path) -> None:
    make_version(tmp_path, "1.0")
    v2 = make_version(tmp_path, "2.0", edited(CHANNEL, ""))

    report = guard_registration(v2, tmp_path, force=True)

    assert report is not None and not report.compatible
    manifest = read_manifest(v2.folder)  # still a valid manifest
    assert manifest.accepted_breaks is not None
    recorded = manifest.accepted_breaks
    assert recorded["against"] == "1.0" and recorded["mode"] == "BACKWARD"
    assert recorded["at"].endswith("Z")
    assert {"kind": "attribute-removed", "path": "/Registration/@channel"}.items() <= (
        recorded["breaks"][0].items()
    )
    text = (v2.folder / "manifest.yaml").read_text(encoding="utf-8")
    assert text.startswith(f"name: {NAME}\n")  # what was there is kept as it was


def test_the_policy_is_inherited_from_the_older_version(tmp_path: Path) -> None:
    make_version(tmp_path, "1.0", extra="compatibility: FORWARD\n")
    # Adding an optional element is fine backward, a break forward: the inherited policy rules.
    v2 = make_version(
        tmp_path,
        "2.0",
        edited(PHONE, PHONE + '<xs:element name="Fax" type="xs:string" minOccurs="0"/>'),
    )

    with pytest.raises(IncompatibleSchema, match="not FORWARD compatible"):
        guard_registration(v2, tmp_path, force=False)


def test_the_new_versions_own_policy_wins(tmp_path: Path) -> None:
    make_version(tmp_path, "1.0", extra="compatibility: FORWARD\n")
    v2 = make_version(tmp_path, "2.0", edited(CHANNEL, ""), extra="compatibility: NONE\n")

    report = guard_registration(v2, tmp_path, force=False)

    assert report is not None and report.mode == "NONE" and report.compatible
    assert yaml.safe_load((v2.folder / "manifest.yaml").read_text())["compatibility"] == "NONE"
