"""Adapter kinds: each kind owns its ``adapter.yaml`` keys and builds its adapters.

``adapter.yaml`` has common keys (``name, version, kind, source, target,
title, options, time_limit``); every other key belongs to the kind, which
declares them as a pydantic model (``config_model``, extra keys forbidden) and
turns a checked spec and config into an :class:`Adapter` with ``build``::

    class CsvKind(AdapterKind):
        name = "csv"
        config_model = CsvConfig          # e.g. {delimiter: str = ",", columns: list[str]}

        def build(self, spec, config, folder):
            assert isinstance(config, CsvConfig)
            return CsvAdapter(spec, config)

Built in: ``xslt`` (:class:`XsltKind`), ``python`` (:class:`PythonKind`) and
``mapping`` (``exchange.adapters.mapping:MappingKind``). Other packages add
kinds through the entry point group ``exchange.adapter_kinds``. Kinds are
imported only when an ``adapter.yaml`` names them, so a broken plug-in is an
error about that plug-in, not a crash of every hub.

A kind whose config model derives from :class:`KindConfig` can name the line
of a key in its errors (``config.where("stylesheet")``).
"""

from __future__ import annotations

import abc
import difflib
import re
import threading
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from exchange.adapters.base import Adapter, AdapterSpec
from exchange.adapters.problems import AdapterConfigError
from exchange.plugins import EntryPointLike, PluginRegistry

ENTRY_POINT_GROUP = "exchange.adapter_kinds"
MANIFEST = "adapter.yaml"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class KindConfig(BaseModel):
    """Base of a kind's config model: unknown keys are refused; knows where each key was."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)
    _manifest: Path | None = PrivateAttr(default=None)
    _lines: dict[str, int] = PrivateAttr(default_factory=dict)

    def locate(self, manifest: Path, lines: dict[str, int]) -> None:
        """Remember the ``adapter.yaml`` this config came from (the manifest reader calls it)."""
        self._manifest = manifest
        self._lines = dict(lines)

    def where(self, key: str | None = None) -> str:
        """``adapter.yaml:line`` of ``key`` (or the file) for error messages."""
        if self._manifest is None:
            return MANIFEST
        line = self._lines.get(key) if key else None
        return f"{self._manifest}:{line}" if line else str(self._manifest)


def where(config: BaseModel, folder: Path, key: str | None = None) -> str:
    """Where to point an error about ``key``: its line when the config knows it."""
    if isinstance(config, KindConfig) and config.where() != MANIFEST:
        return config.where(key)
    return str(folder / MANIFEST)


class AdapterKind(abc.ABC):
    """One kind of adapter: the keys it takes in ``adapter.yaml`` and how to build one."""

    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]

    @abc.abstractmethod
    def build(self, spec: AdapterSpec, config: BaseModel, folder: Path) -> Adapter:
        """The adapter of ``folder``; raise AdapterConfigError saying what is wrong and where."""


class XsltConfig(KindConfig):
    """Kind ``xslt``: one sandboxed XSLT 1.0 stylesheet in the adapter folder."""

    stylesheet: str = Field(description="file name of the .xsl in this folder")


class XsltKind(AdapterKind):
    name = "xslt"
    config_model = XsltConfig

    def build(self, spec: AdapterSpec, config: BaseModel, folder: Path) -> Adapter:
        from exchange.adapters.xslt import XsltAdapter  # lxml's XSLT only when used

        assert isinstance(config, XsltConfig)
        return XsltAdapter(spec, _stylesheet(folder, config))


class PythonConfig(KindConfig):
    """Kind ``python``: a PythonAdapter subclass in a module of the adapter folder."""

    class_ref: str = Field(alias="class", description="<module file without .py>:<class name>")

    @property
    def module(self) -> str:
        return self.class_ref.partition(":")[0]

    @property
    def class_name(self) -> str:
        return self.class_ref.partition(":")[2]


class PythonKind(AdapterKind):
    name = "python"
    config_model = PythonConfig

    def build(self, spec: AdapterSpec, config: BaseModel, folder: Path) -> Adapter:
        from exchange.adapters.python import load_folder_adapter

        assert isinstance(config, PythonConfig)
        at = where(config, folder, "class")
        module, class_name = config.module, config.class_name
        if not (_IDENTIFIER.match(module) and _IDENTIFIER.match(class_name)):
            raise AdapterConfigError(
                [
                    f"{at}: class {config.class_ref!r} is not of the form <module>:<Class>; "
                    "write e.g. class: adapter:ToEmployerRegistration"
                ]
            )
        if not (folder / f"{module}.py").is_file():
            present = sorted(p.stem for p in folder.glob("*.py"))
            hint = difflib.get_close_matches(module, present, n=1)
            fix = f"did you mean '{hint[0]}'?" if hint else f"add {module}.py to the adapter folder"
            raise AdapterConfigError(
                [f"{at}: module file '{module}.py' does not exist in {folder}; {fix}"]
            )
        return load_folder_adapter(spec, folder, module, class_name, at)


def _stylesheet(folder: Path, config: XsltConfig) -> Path:
    raw, at = config.stylesheet, where(config, folder, "stylesheet")
    if not raw.strip():
        raise AdapterConfigError([f"{at}: stylesheet must be a file name, got {raw!r}"])
    candidate = (folder / raw.strip()).resolve()
    if not candidate.is_relative_to(folder.resolve()):
        raise AdapterConfigError(
            [f"{at}: stylesheet '{raw}' is outside the adapter folder; keep it in {folder}"]
        )
    if not candidate.is_file():
        present = sorted(p.name for p in folder.glob("*.xsl*"))
        hint = difflib.get_close_matches(raw, present, n=1)
        fix = f"did you mean '{hint[0]}'?" if hint else "put the stylesheet in the adapter folder"
        raise AdapterConfigError([f"{at}: stylesheet '{raw}' does not exist in {folder}; {fix}"])
    return candidate


BUILTIN_KINDS: dict[str, str] = {
    "xslt": "exchange.adapters.kinds:XsltKind",
    "python": "exchange.adapters.kinds:PythonKind",
    "mapping": "exchange.adapters.mapping:MappingKind",
}


def _is_kind(found: Any) -> bool:
    # Structural as well as nominal: a kind written against the contract before
    # this base class existed (or in a package that avoids importing it) works too.
    if not isinstance(found, type):
        return False
    if issubclass(found, AdapterKind):
        return True
    model = getattr(found, "config_model", None)
    return (
        isinstance(getattr(found, "name", None), str)
        and callable(getattr(found, "build", None))
        and isinstance(model, type)
        and issubclass(model, BaseModel)
    )


class AdapterKinds:
    """The adapter kinds a hub knows, each built once; tests pass their own entry points."""

    def __init__(self, entry_points: list[EntryPointLike] | None = None) -> None:
        self.registry: PluginRegistry[type[AdapterKind]] = PluginRegistry(
            "adapter",
            ENTRY_POINT_GROUP,
            BUILTIN_KINDS,
            check=_is_kind,
            expected="an AdapterKind class (name, config_model, build)",
            entry_points=entry_points,
        )
        self._instances: dict[str, AdapterKind] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return self.registry.kinds()

    def __contains__(self, name: object) -> bool:
        return name in self.registry

    def get(self, name: str) -> AdapterKind:
        """The kind ``name``, constructed once; PluginError if it is unknown or broken."""
        kind = self._instances.get(name)
        if kind is None:
            cls = self.registry.get(name)
            with self._lock:
                kind = self._instances.get(name) or cls()
                self._instances[name] = kind
        return kind


_default: AdapterKinds | None = None


def default_kinds() -> AdapterKinds:
    """The process-wide kinds: built-ins plus the installed ``exchange.adapter_kinds``."""
    global _default
    if _default is None:
        _default = AdapterKinds()
    return _default
