"""The adapter registry: every adapter of a hub home, by name, and the chains between types.

Adapters come from the home's ``adapters/`` folder (one folder per adapter,
each with ``adapter.yaml``) and from installed packages (entry point group
``exchange.adapters``). Loading reports every problem it finds in one error.
A registry does not change after it is built: reloading builds a new one, so
resolved chains can be cached without invalidation.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from exchange.adapters.base import Adapter
from exchange.adapters.chain import check_chain, shortest_chain
from exchange.adapters.kinds import AdapterKinds, default_kinds
from exchange.adapters.manifest import MANIFEST, Manifest, read_manifest
from exchange.adapters.problems import AdapterConfigError
from exchange.adapters.python import (
    EntryPointLike,
    installed_entry_points,
    load_entry_point_adapters,
)
from exchange.errors import ConfigError


class AdapterRegistry:
    """Adapters by unique name, with chain resolution between message types."""

    def __init__(self, adapters: Iterable[Adapter] = (), *, origins: dict[str, str] | None = None):
        self._adapters: dict[str, Adapter] = {}
        self._origins = dict(origins or {})
        duplicates: list[str] = []
        for adapter in adapters:
            name = adapter.spec.name
            if name in self._adapters:
                duplicates.append(f"adapter '{name}' is defined twice; rename one of them")
            self._adapters[name] = adapter
        if duplicates:
            raise AdapterConfigError(duplicates)
        self._chains: dict[tuple[str, str, tuple[str, ...] | None], tuple[Adapter, ...]] = {}

    @classmethod
    def load(
        cls, adapters_dir: Path, *, entry_points: bool = True, kinds: AdapterKinds | None = None
    ) -> AdapterRegistry:
        """Load every adapter folder under ``adapters_dir`` (missing = none) and entry point.

        ``kinds`` resolves each folder's ``kind`` (default: built-ins and installed plug-ins).
        """
        return cls._load(adapters_dir, installed_entry_points() if entry_points else [], kinds)

    @classmethod
    def _load(
        cls,
        adapters_dir: Path,
        entry_points: Iterable[EntryPointLike],
        kinds: AdapterKinds | None = None,
    ) -> AdapterRegistry:
        problems: list[str] = []
        found: list[tuple[Adapter, str]] = []
        if adapters_dir.exists() and not adapters_dir.is_dir():
            problems.append(f"{adapters_dir}: is not a directory; point the hub at its adapters/")
        elif adapters_dir.is_dir():
            for folder in sorted(adapters_dir.iterdir()):
                if not folder.is_dir() or folder.name.startswith((".", "_")):
                    continue
                try:
                    adapter, origin = _load_folder(folder, kinds)
                except AdapterConfigError as exc:
                    problems.extend(exc.problems)
                else:
                    found.append((adapter, origin))
        loaded, entry_problems = load_entry_point_adapters(entry_points)
        found.extend(loaded)
        problems.extend(entry_problems)

        origins: dict[str, str] = {}
        adapters: list[Adapter] = []
        for adapter, origin in found:
            name = adapter.spec.name
            if name in origins:
                problems.append(
                    f"adapter name '{name}' is used twice: {origins[name]} and {origin}; "
                    "rename one of them"
                )
                continue
            origins[name] = origin
            adapters.append(adapter)
        if problems:
            raise AdapterConfigError(problems)
        return cls(adapters, origins=origins)

    def get(self, name: str) -> Adapter:
        """The adapter called ``name``; ConfigError with the closest names if there is none."""
        adapter = self._adapters.get(name)
        if adapter is None:
            raise ConfigError(self._unknown(name))
        return adapter

    def origin(self, name: str) -> str:
        """Where an adapter was defined (its ``adapter.yaml`` or its entry point)."""
        self.get(name)
        return self._origins.get(name, "constructed in code")

    def chain(
        self, source: str, target: str, explicit: Sequence[str] | None = None
    ) -> tuple[Adapter, ...]:
        """The adapters that turn ``source`` into ``target``.

        With ``explicit`` the named adapters are checked to exist and to connect;
        without it the shortest chain is resolved (empty when the types match).
        """
        key = (source, target, tuple(explicit) if explicit is not None else None)
        cached = self._chains.get(key)
        if cached is not None:
            return cached
        if explicit is not None:
            unknown = [name for name in explicit if name not in self._adapters]
            if unknown:
                raise ConfigError(self._unknown(unknown[0]))
            chain = tuple(self._adapters[name] for name in explicit)
            check_chain(chain, source, target)
        else:
            found = shortest_chain(self._adapters.values(), source, target)
            if found is None:
                raise ConfigError(self._no_chain(source, target))
            chain = found
        self._chains[key] = chain
        return chain

    def from_type(self, source: str) -> list[Adapter]:
        """Adapters that read ``source``, by name."""
        return sorted(
            (a for a in self._adapters.values() if a.spec.source == source),
            key=lambda a: a.spec.name,
        )

    def __iter__(self) -> Iterator[Adapter]:
        return iter(sorted(self._adapters.values(), key=lambda a: a.spec.name))

    def __len__(self) -> int:
        return len(self._adapters)

    def __contains__(self, name: object) -> bool:
        return name in self._adapters

    def _unknown(self, name: str) -> str:
        if not self._adapters:
            return (
                f"unknown adapter '{name}': no adapters are loaded; "
                f"add adapters/{name}/{MANIFEST} to the hub home"
            )
        known = sorted(self._adapters)
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        return f"unknown adapter '{name}'; {hint}known adapters: {', '.join(known)}"

    def _no_chain(self, source: str, target: str) -> str:
        leaving = ", ".join(a.spec.describe() for a in self.from_type(source)) or "none"
        return (
            f"no adapter chain from {source} to {target}; adapters from {source}: {leaving}; "
            f"add an adapter to {target} (or to a type that has one)"
        )


def _load_folder(folder: Path, kinds: AdapterKinds | None) -> tuple[Adapter, str]:
    path = folder / MANIFEST
    if not path.is_file():
        raise AdapterConfigError(
            [f"{folder}: no {MANIFEST} in this adapter folder; add one or move the folder away"]
        )
    manifest: Manifest = read_manifest(path, kinds)
    return build_adapter(manifest, kinds), str(path)


def build_adapter(manifest: Manifest, kinds: AdapterKinds | None = None) -> Adapter:
    """Build the adapter a checked manifest describes, through its kind."""
    kind = (kinds or default_kinds()).get(manifest.spec.kind)
    try:
        return kind.build(manifest.spec, manifest.config, manifest.folder)
    except ConfigError:
        raise
    except Exception as exc:
        # A plug-in kind's own bug: name the adapter and the kind instead of a bare traceback.
        raise AdapterConfigError(
            [
                f"{manifest.where('kind')}: kind '{manifest.spec.kind}' failed to build "
                f"adapter '{manifest.spec.name}' ({type(exc).__name__}: {exc}); "
                "fix the adapter folder or the package providing the kind"
            ]
        ) from exc
