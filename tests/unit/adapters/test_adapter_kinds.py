"""Adapter kinds: each owns its adapter.yaml keys; plug-in kinds come from entry points."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from pydantic import BaseModel

from exchange.adapters import AdapterConfigError, AdapterRegistry
from exchange.adapters.base import Adapter, AdapterSpec
from exchange.adapters.kinds import AdapterKind, AdapterKinds, KindConfig, where
from exchange.envelope import Envelope


class UpperConfig(KindConfig):
    element: str


class UpperAdapter(Adapter):
    def __init__(self, spec: AdapterSpec, element: str) -> None:
        super().__init__(spec)
        self.element = element

    def translate(self, document: etree._ElementTree, envelope: Envelope) -> etree._ElementTree:
        root = etree.Element(self.element)
        root.text = (document.getroot().text or "").upper()
        return etree.ElementTree(root)


class UpperKind(AdapterKind):
    name = "upper"
    config_model = UpperConfig

    def build(self, spec: AdapterSpec, config: BaseModel, folder: Path) -> Adapter:
        assert isinstance(config, UpperConfig)
        if not config.element.isidentifier():
            raise AdapterConfigError([f"{where(config, folder, 'element')}: not a name"])
        return UpperAdapter(spec, config.element)


@dataclass
class StandInEntryPoint:
    name: str
    value: str
    target: Any

    def load(self) -> Any:
        if isinstance(self.target, BaseException):
            raise self.target
        return self.target


def manifest(kind: str, extra: str) -> str:
    return f'name: up\nversion: "1"\nkind: {kind}\nsource: a.In\ntarget: b.Out\n{extra}'


def load(tmp_path: Path, text: str, *entries: StandInEntryPoint) -> AdapterRegistry:
    folder = tmp_path / "adapters" / "up"
    folder.mkdir(parents=True)
    (folder / "adapter.yaml").write_text(text, encoding="utf-8")
    kinds = AdapterKinds(list(entries))
    return AdapterRegistry.load(tmp_path / "adapters", entry_points=False, kinds=kinds)


def problems(tmp_path: Path, text: str, *entries: StandInEntryPoint) -> list[str]:
    with pytest.raises(AdapterConfigError) as caught:
        load(tmp_path, text, *entries)
    return list(caught.value.problems)


UPPER = StandInEntryPoint("upper", "upper_kind:UpperKind", UpperKind)


def test_plugin_kind_builds_from_its_own_keys(tmp_path: Path) -> None:
    registry = load(tmp_path, manifest("upper", "element: Out\ntime_limit: 2\n"), UPPER)

    adapter = registry.get("up")
    assert isinstance(adapter, UpperAdapter)
    assert adapter.spec.time_limit == 2.0
    out = adapter.translate(etree.ElementTree(etree.fromstring("<in>abc</in>")), None)  # type: ignore[arg-type]
    assert etree.tostring(out) == b"<Out>ABC</Out>"


def test_plugin_kind_key_problems_name_their_line(tmp_path: Path) -> None:
    found = problems(tmp_path, manifest("upper", "elemnt: Out\n"), UPPER)

    assert any(
        p.endswith("adapter.yaml:6: unknown key 'elemnt'; did you mean 'element'?") for p in found
    )
    assert any("missing required key 'element' for kind upper" in p for p in found)


def test_plugin_kind_error_in_build_names_the_line(tmp_path: Path) -> None:
    found = problems(tmp_path, manifest("upper", "element: not a name\n"), UPPER)

    assert found == [f"{tmp_path / 'adapters' / 'up' / 'adapter.yaml'}:6: not a name"]


def test_misspelt_plugin_kind_suggests_it(tmp_path: Path) -> None:
    found = problems(tmp_path, manifest("uper", "element: Out\n"), UPPER)

    assert found == [
        f"{tmp_path / 'adapters' / 'up' / 'adapter.yaml'}:3: unknown kind 'uper'; "
        "did you mean 'upper'?"
    ]


def test_plugin_that_fails_to_import_is_a_clear_problem(tmp_path: Path) -> None:
    broken = StandInEntryPoint("upper", "upper_kind:UpperKind", ImportError("no module upper_kind"))

    (found,) = problems(tmp_path, manifest("upper", "element: Out\n"), broken)

    assert "adapter kind 'upper'" in found and "failed to import (ImportError" in found


def test_plugin_that_is_not_a_kind_is_refused(tmp_path: Path) -> None:
    wrong = StandInEntryPoint("upper", "upper_kind:UpperAdapter", UpperAdapter)

    (found,) = problems(tmp_path, manifest("upper", "element: Out\n"), wrong)

    assert "is not an AdapterKind class" in found


@pytest.mark.parametrize("value", ["0", "-1", "soon", "true"])
def test_time_limit_must_be_positive_seconds(tmp_path: Path, value: str) -> None:
    (found,) = problems(tmp_path, manifest("upper", f"element: Out\ntime_limit: {value}\n"), UPPER)

    assert "adapter.yaml:7: time_limit must be a positive number of seconds" in found


def test_builtin_kinds_are_listed() -> None:
    assert {"mapping", "python", "xslt"} <= set(AdapterKinds([]).names())
