"""Python adapters: a class in an adapter folder, or in another installed package.

A folder adapter's module is imported as a submodule of a private package made
for that folder (``exchange_adapters.<escaped name>``), so two adapters may
both call their module ``adapter.py``, a module may import its neighbours
relatively (``from . import helpers``), and reloading picks up edited code.

Adapters from other packages come through the entry point group
``exchange.adapters``; each entry point names a PythonAdapter subclass that
declares its spec in class attributes, for example in ``pyproject.toml``::

    [project.entry-points."exchange.adapters"]
    tax-to-canonical = "tax_adapters.canonical:TaxToCanonical"
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from exchange.adapters.base import NAME_PATTERN, AdapterSpec, PythonAdapter
from exchange.adapters.problems import AdapterConfigError

ENTRY_POINT_GROUP = "exchange.adapters"
_ROOT_PACKAGE = "exchange_adapters"
_DECLARED = ("name", "version", "source", "target")


class EntryPointLike(Protocol):
    """What the loader needs of ``importlib.metadata.EntryPoint`` (tests pass look-alikes)."""

    @property
    def name(self) -> str: ...

    @property
    def value(self) -> str: ...

    @property
    def dist(self) -> Any: ...

    def load(self) -> Any: ...


def installed_entry_points() -> list[EntryPointLike]:
    """Entry points of the ``exchange.adapters`` group in the installed distributions."""
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def package_name(adapter_name: str) -> str:
    """The private package an adapter folder is imported as; one-to-one with names."""
    escaped = "".join(c if c.isalnum() and c.isascii() else f"_{ord(c):02x}" for c in adapter_name)
    return f"{_ROOT_PACKAGE}.{escaped}"


def load_folder_adapter(
    spec: AdapterSpec, folder: Path, module_name: str, class_name: str, where: str
) -> PythonAdapter:
    """Import ``class_name`` from ``folder/module_name.py`` and construct it with the options.

    ``where`` (``adapter.yaml:line``) starts the messages about the class.
    """
    module_file = folder / f"{module_name}.py"
    try:
        module = _import_from_folder(spec.name, folder, module_name)
    except Exception as exc:
        raise AdapterConfigError(
            [f"{module_file}: importing it failed ({_describe(exc)}); fix the module"]
        ) from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        present = sorted(
            n
            for n, v in vars(module).items()
            if isinstance(v, type)
            and issubclass(v, PythonAdapter)
            and v.__module__ == module.__name__
        )
        raise AdapterConfigError(
            [
                f"{where}: class '{class_name}' not found in {module_file.name} "
                f"(adapter classes there: {', '.join(present) or 'none'}); fix the class name"
            ]
        )
    if not (isinstance(cls, type) and issubclass(cls, PythonAdapter)):
        raise AdapterConfigError(
            [
                f"{where}: '{class_name}' in {module_file.name} is not a subclass of "
                "exchange.adapters.PythonAdapter; derive it from PythonAdapter"
            ]
        )
    disagreements = [
        f"{attr} {getattr(cls, attr)!r} in the class but {getattr(spec, attr)!r} in adapter.yaml"
        for attr in _DECLARED
        if getattr(cls, attr) is not None and getattr(cls, attr) != getattr(spec, attr)
    ]
    if disagreements:
        raise AdapterConfigError(
            [f"{where}: {'; '.join(disagreements)}; make them agree or drop the class attribute"]
        )
    try:
        return cls(spec, **spec.options)
    except Exception as exc:
        raise AdapterConfigError(
            [
                f"{where}: constructing {class_name} with options "
                f"{dict(spec.options)} failed ({_describe(exc)}); fix the options or __init__"
            ]
        ) from exc


def load_entry_point_adapters(
    entry_points: Iterable[EntryPointLike],
) -> tuple[list[tuple[PythonAdapter, str]], list[str]]:
    """Load each entry point's adapter; return (adapter, origin) pairs and the problems found."""
    adapters: list[tuple[PythonAdapter, str]] = []
    problems: list[str] = []
    for entry_point in entry_points:
        origin = (
            f"entry point '{entry_point.name} = {entry_point.value}' "
            f"of distribution '{_distribution(entry_point)}'"
        )
        try:
            adapters.append((_load_entry_point(entry_point, origin), origin))
        except AdapterConfigError as exc:
            problems.extend(exc.problems)
    return adapters, problems


def _load_entry_point(entry_point: EntryPointLike, origin: str) -> PythonAdapter:
    try:
        cls = entry_point.load()
    except Exception as exc:
        raise AdapterConfigError(
            [f"{origin}: cannot be loaded ({_describe(exc)}); reinstall or fix that distribution"]
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, PythonAdapter)):
        raise AdapterConfigError(
            [f"{origin}: {cls!r} is not a subclass of exchange.adapters.PythonAdapter; fix it"]
        )
    name = cls.name or entry_point.name
    if cls.name is not None and cls.name != entry_point.name:
        raise AdapterConfigError(
            [f"{origin}: the class is named '{cls.name}'; give the entry point the same name"]
        )
    missing = [a for a in ("version", "source", "target") if not getattr(cls, a)]
    if missing:
        raise AdapterConfigError(
            [f"{origin}: {cls.__name__} must declare class attributes {', '.join(missing)}"]
        )
    if not NAME_PATTERN.match(name):
        raise AdapterConfigError(
            [f"{origin}: name '{name}' is not allowed; use lower-case letters, digits, . _ -"]
        )
    assert cls.version is not None and cls.source is not None and cls.target is not None
    spec = AdapterSpec(
        name=name,
        version=cls.version,
        kind="python",
        source=cls.source,
        target=cls.target,
        title=cls.title,
    )
    try:
        return cls(spec)
    except Exception as exc:
        raise AdapterConfigError(
            [f"{origin}: constructing {cls.__name__} failed ({_describe(exc)}); fix that class"]
        ) from exc


def _import_from_folder(adapter_name: str, folder: Path, module_name: str) -> Any:
    package = package_name(adapter_name)
    for loaded in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
        del sys.modules[loaded]
    _ensure_package(_ROOT_PACKAGE, [])
    _ensure_package(package, [str(folder)])
    importlib.invalidate_caches()
    return importlib.import_module(f"{package}.{module_name}")


def _ensure_package(name: str, path: list[str]) -> None:
    if name in sys.modules:
        return
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = path
    sys.modules[name] = importlib.util.module_from_spec(spec)


def _distribution(entry_point: EntryPointLike) -> str:
    dist = entry_point.dist
    name = getattr(dist, "name", None) if dist is not None else None
    return str(name) if name else "unknown"


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
