"""Adapters from other packages, through the ``exchange.adapters`` entry point group."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from adapter_test_helpers import stylesheet, xslt_manifest
from lxml import etree

import exchange.adapters.registry as registry_module
from exchange.adapters import AdapterConfigError, AdapterRegistry, PythonAdapter
from exchange.adapters.python import load_entry_point_adapters
from exchange.envelope import Envelope


class TaxToCanonical(PythonAdapter):
    name = "tax-to-canonical"
    version = "3.2"
    source = "tax.Payer"
    target = "canonical.LegalEntity"
    title = "Taxpayer → legal entity"

    def translate(self, document: etree._ElementTree, envelope: Envelope) -> etree._ElementTree:
        return etree.ElementTree(etree.Element("LegalEntity"))


class Unnamed(PythonAdapter):
    version = "1"
    source = "a.In"
    target = "b.Out"

    def translate(self, document: etree._ElementTree, envelope: Envelope) -> etree._ElementTree:
        return document


class NoTypes(PythonAdapter):
    version = "1"

    def translate(self, document: etree._ElementTree, envelope: Envelope) -> etree._ElementTree:
        return document


@dataclass
class FakeEntryPoint:
    """Stands in for importlib.metadata.EntryPoint."""

    name: str
    target: Callable[[], Any]
    distribution: str | None = "tax-adapters"
    value: str = "tax_adapters.canonical:TaxToCanonical"

    @property
    def dist(self) -> Any:
        return SimpleNamespace(name=self.distribution) if self.distribution else None

    def load(self) -> Any:
        return self.target()


def missing_module() -> Any:
    raise ModuleNotFoundError("No module named 'tax_adapters'")


def test_entry_point_adapter_takes_its_spec_from_class_attributes() -> None:
    adapters, problems = load_entry_point_adapters(
        [FakeEntryPoint("tax-to-canonical", lambda: TaxToCanonical)]
    )

    assert problems == []
    [(adapter, origin)] = adapters
    assert isinstance(adapter, TaxToCanonical)
    assert (adapter.spec.name, adapter.spec.version, adapter.spec.kind) == (
        "tax-to-canonical",
        "3.2",
        "python",
    )
    assert (adapter.spec.source, adapter.spec.target) == ("tax.Payer", "canonical.LegalEntity")
    assert adapter.spec.title == "Taxpayer → legal entity"
    assert origin == (
        "entry point 'tax-to-canonical = tax_adapters.canonical:TaxToCanonical' "
        "of distribution 'tax-adapters'"
    )


def test_entry_point_name_stands_in_for_a_missing_class_name() -> None:
    [(adapter, _)], problems = load_entry_point_adapters([FakeEntryPoint("plain", lambda: Unnamed)])

    assert problems == []
    assert adapter.spec.name == "plain"


@pytest.mark.parametrize(
    ("entry_point", "expected"),
    [
        (
            FakeEntryPoint("tax-to-canonical", missing_module),
            "of distribution 'tax-adapters': cannot be loaded (ModuleNotFoundError: No module "
            "named 'tax_adapters'); reinstall or fix that distribution",
        ),
        (
            FakeEntryPoint("x", lambda: object, distribution=None),
            "of distribution 'unknown': <class 'object'> is not a subclass of "
            "exchange.adapters.PythonAdapter",
        ),
        (
            FakeEntryPoint("other-name", lambda: TaxToCanonical),
            "the class is named 'tax-to-canonical'; give the entry point the same name",
        ),
        (
            FakeEntryPoint("no-types", lambda: NoTypes),
            "NoTypes must declare class attributes source, target",
        ),
        (
            FakeEntryPoint("Bad Name", lambda: Unnamed),
            "name 'Bad Name' is not allowed",
        ),
    ],
)
def test_broken_entry_point_names_the_distribution(
    entry_point: FakeEntryPoint, expected: str
) -> None:
    adapters, problems = load_entry_point_adapters([entry_point])

    assert adapters == []
    [problem] = problems
    assert problem.startswith(f"entry point '{entry_point.name} = ")
    assert expected in problem


def test_registry_load_uses_installed_entry_points(
    monkeypatch: pytest.MonkeyPatch, adapters_dir: Path
) -> None:
    monkeypatch.setattr(
        registry_module,
        "installed_entry_points",
        lambda: [FakeEntryPoint("tax-to-canonical", lambda: TaxToCanonical)],
    )

    loaded = AdapterRegistry.load(adapters_dir)
    without = AdapterRegistry.load(adapters_dir, entry_points=False)

    assert [a.spec.name for a in loaded] == ["tax-to-canonical"]
    assert loaded.origin("tax-to-canonical").startswith("entry point 'tax-to-canonical")
    assert len(without) == 0


def test_folder_and_entry_point_with_the_same_name_conflict(
    monkeypatch: pytest.MonkeyPatch, write_adapter, adapters_dir: Path
) -> None:
    write_adapter(
        "tax",
        xslt_manifest("tax-to-canonical"),
        {"t.xsl": stylesheet('<xsl:template match="/"><out/></xsl:template>')},
    )
    monkeypatch.setattr(
        registry_module,
        "installed_entry_points",
        lambda: [FakeEntryPoint("tax-to-canonical", lambda: TaxToCanonical)],
    )

    with pytest.raises(AdapterConfigError) as caught:
        AdapterRegistry.load(adapters_dir)

    assert str(caught.value) == (
        f"adapter name 'tax-to-canonical' is used twice: "
        f"{adapters_dir / 'tax' / 'adapter.yaml'} and entry point 'tax-to-canonical = "
        "tax_adapters.canonical:TaxToCanonical' of distribution 'tax-adapters'; "
        "rename one of them"
    )


def test_entry_point_problems_are_reported_with_folder_problems(
    monkeypatch: pytest.MonkeyPatch, write_adapter, adapters_dir: Path
) -> None:
    write_adapter("bad", 'name: bad\nversion: "1"\nkind: xsl\nsource: a.In\ntarget: b.Out\n')
    monkeypatch.setattr(
        registry_module, "installed_entry_points", lambda: [FakeEntryPoint("x", missing_module)]
    )

    with pytest.raises(AdapterConfigError) as caught:
        AdapterRegistry.load(adapters_dir)

    assert len(caught.value.problems) == 2
    assert "unknown kind 'xsl'" in caught.value.problems[0]
    assert "cannot be loaded" in caught.value.problems[1]
