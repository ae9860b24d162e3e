"""One registry for every plug-in family: built-ins plus an entry-point group.

The hub has four open families, each found the same way:

    group                      what a plug-in is                     used by
    exchange.backbones         a Backbone factory                    backbone.open_backbone
    exchange.egress            an Egress class (with endpoint_model) egress.registry
    exchange.adapter_kinds     an AdapterKind class                  adapters.kinds
    exchange.rules             a business-rule factory               schemas.checks

A plug-in is named ``module:attribute``. Built-ins are written the same way
(a string) so that nothing is imported until a kind is asked for: a broken or
missing plug-in costs nothing until it is used, and then says what is wrong
(import failure, wrong base class) and what to do. ``get`` on an unknown kind
says "did you mean" and lists the known ones. A registry is a plain object, so
a test builds its own with fake entry points instead of patching globals.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, Protocol, TypeVar

from exchange.errors import PluginError

T = TypeVar("T")

__all__ = ["EntryPointLike", "PluginError", "PluginRegistry", "installed"]


class EntryPointLike(Protocol):
    """What the registry needs of ``importlib.metadata.EntryPoint`` (tests pass look-alikes)."""

    @property
    def name(self) -> str: ...

    @property
    def value(self) -> str: ...

    def load(self) -> Any: ...


def installed(group: str) -> list[EntryPointLike]:
    """The entry points of ``group`` in the installed distributions."""
    return list(importlib.metadata.entry_points(group=group))


class _Reference:
    """A ``module:attribute`` that is imported on first use."""

    def __init__(self, value: str, origin: str, loader: Callable[[], Any] | None = None) -> None:
        self.value = value
        self.origin = origin
        self._loader = loader

    def load(self) -> Any:
        if self._loader is not None:
            return self._loader()
        module_name, _, attribute = self.value.partition(":")
        module = importlib.import_module(module_name)
        found: Any = module
        for part in attribute.split(".") if attribute else ():
            found = getattr(found, part)
        return found


def _constant(value: object) -> Callable[[], object]:
    return lambda: value


class PluginRegistry(Generic[T]):
    """Kinds of one family by name: built-ins first, then the entry points of ``group``.

    ``check`` decides whether a loaded object belongs to the family (for
    example ``issubclass(obj, Egress)``); ``expected`` says in words what it
    should be, for the error. A built-in may be the object itself or a
    ``module:attribute`` string (imported lazily). An entry point with a
    built-in's name does not replace it: that would let any installed package
    silently change how the hub delivers, so it is reported when asked for.
    """

    def __init__(
        self,
        family: str,
        group: str,
        builtins: Mapping[str, T | str],
        *,
        check: Callable[[Any], bool],
        expected: str,
        entry_points: Iterable[EntryPointLike] | None = None,
    ) -> None:
        self.family = family
        self.group = group
        self._check = check
        self._expected = expected
        self._given_entry_points = entry_points
        self._builtins: dict[str, T | str] = dict(builtins)
        self._references: dict[str, _Reference] | None = None
        self._loaded: dict[str, T] = {}
        self._lock = threading.Lock()

    def kinds(self) -> list[str]:
        """Every known kind name, built-ins and plug-ins, sorted."""
        return sorted(self._refs())

    def __contains__(self, kind: object) -> bool:
        return isinstance(kind, str) and kind in self._refs()

    def get(self, kind: str) -> T:
        """The object registered as ``kind``; PluginError with a hint if it is unknown or broken."""
        found = self._loaded.get(kind)
        if found is not None:
            return found
        with self._lock:
            found = self._loaded.get(kind)
            if found is None:
                found = self._loaded[kind] = self._load(kind)
        return found

    def origin(self, kind: str) -> str:
        """Where ``kind`` comes from (built-in, or which entry point)."""
        reference = self._refs().get(kind)
        if reference is None:
            raise PluginError(self.unknown(kind))
        return reference.origin

    def unknown(self, kind: object) -> str:
        """The one-line message for a kind that is not registered."""
        known = self.kinds()
        close = difflib.get_close_matches(str(kind), known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return (
            f"unknown {self.family} kind {kind!r}; {hint}known kinds: {', '.join(known)} "
            f"(plug-ins register in the entry point group '{self.group}')"
        )

    def _refs(self) -> dict[str, _Reference]:
        references = self._references
        if references is None:
            references = {}
            entry_points = (
                installed(self.group)
                if self._given_entry_points is None
                else list(self._given_entry_points)
            )
            for entry_point in entry_points:
                if entry_point.name in self._builtins:
                    continue
                references[entry_point.name] = _Reference(
                    entry_point.value,
                    f"entry point '{entry_point.name} = {entry_point.value}' "
                    f"of group '{self.group}'",
                    entry_point.load,
                )
            for name, builtin in self._builtins.items():
                if isinstance(builtin, str):
                    references[name] = _Reference(builtin, f"built-in ({builtin})")
                else:
                    references[name] = _Reference(name, "built-in", _constant(builtin))
            self._references = references
        return references

    def _load(self, kind: str) -> T:
        reference = self._refs().get(kind)
        if reference is None:
            raise PluginError(self.unknown(kind))
        try:
            found = reference.load()
        except Exception as exc:
            raise PluginError(
                f"{self.family} kind '{kind}' from {reference.origin} failed to import "
                f"({type(exc).__name__}: {exc}); install or fix the package that provides it"
            ) from exc
        if not self._check(found):
            raise PluginError(
                f"{self.family} kind '{kind}' from {reference.origin} is not {self._expected} "
                f"(it is {found!r}); point the entry point at one"
            )
        result: T = found
        return result
