"""The catalogue's vocabulary: one entry per message type, its versions and its parties."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exchange.errors import ExchangeError


class UnknownCatalogueType(ExchangeError):
    """A type (or version) the catalogue does not list; the message names the closest ones."""


@dataclass(frozen=True)
class VersionEntry:
    """One version of a type: where it lives and the files a department may download."""

    version: str
    qname: str
    folder: Path
    xsd: str  # the main XSD, relative to the folder
    xsd_files: tuple[str, ...]  # every XSD of the folder (imports and includes too)
    samples_valid: tuple[str, ...]
    samples_invalid: tuple[str, ...]
    compatibility: str

    @property
    def files(self) -> tuple[str, ...]:
        """Every downloadable file, relative to the version's folder."""
        return (*self.xsd_files, *self.samples_valid, *self.samples_invalid)

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "qname": self.qname,
            "xsd": self.xsd,
            "xsd_files": list(self.xsd_files),
            "samples": {"valid": list(self.samples_valid), "invalid": list(self.samples_invalid)},
            "compatibility": self.compatibility,
        }


@dataclass(frozen=True)
class Publisher:
    """A sender whose ``may_send`` names the type (or ``*``)."""

    code: str
    name: str | None
    any_type: bool  # allowed through "*", not by naming the type

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "any_type": self.any_type}


@dataclass(frozen=True)
class Subscriber:
    """One destination of a route that matches the type: who receives it and through what."""

    route: str
    endpoint: str
    title: str | None
    kind: str
    format: str
    adapters: tuple[str, ...] | None  # None: no chain reaches the endpoint's format
    adapters_explicit: bool  # the route names them (else resolved through the canonical model)
    xpath: tuple[str, ...]
    senders: tuple[str, ...] | None  # None: from any sender
    problem: str | None = None  # why no chain was found

    def as_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "endpoint": self.endpoint,
            "title": self.title,
            "kind": self.kind,
            "format": self.format,
            "adapters": None if self.adapters is None else list(self.adapters),
            "adapters_explicit": self.adapters_explicit,
            "xpath": list(self.xpath),
            "senders": None if self.senders is None else list(self.senders),
            "problem": self.problem,
        }


@dataclass(frozen=True)
class TypeEntry:
    """A message type as a department browsing the catalogue sees it."""

    name: str
    owner: str | None
    titles: Mapping[str, str]
    descriptions: Mapping[str, str]
    versions: tuple[VersionEntry, ...]  # oldest first
    publishers: tuple[Publisher, ...]
    subscribers: tuple[Subscriber, ...]

    @property
    def latest(self) -> VersionEntry:
        return self.versions[-1]

    @property
    def qname(self) -> str:
        return self.latest.qname

    def title(self, language: str = "en") -> str | None:
        return self.titles.get(language) or next(iter(self.titles.values()), None)

    def version(self, version: str) -> VersionEntry:
        from exchange.schemas.manifest import is_version, version_key

        if is_version(version):
            for entry in self.versions:
                if version_key(entry.version) == version_key(version):
                    return entry
        known = ", ".join(v.version for v in self.versions)
        raise UnknownCatalogueType(
            f"{self.name} has no version {version!r}; known versions: {known}"
        )

    def summary(self) -> dict[str, Any]:
        """What the list shows: enough to decide whether to open the entry."""
        return {
            "name": self.name,
            "qname": self.qname,
            "owner": self.owner,
            "title": dict(self.titles),
            "versions": [v.version for v in self.versions],
            "publishers": [p.code for p in self.publishers],
            "subscribers": sorted({s.endpoint for s in self.subscribers}),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "qname": self.qname,
            "owner": self.owner,
            "title": dict(self.titles),
            "description": dict(self.descriptions),
            "versions": [v.as_dict() for v in self.versions],
            "publishers": [p.as_dict() for p in self.publishers],
            "subscribers": [s.as_dict() for s in self.subscribers],
        }


@dataclass(frozen=True)
class Catalogue:
    """Every message type of one rule set, by name (and findable by qname)."""

    version: str | None
    entries: Mapping[str, TypeEntry] = field(default_factory=dict)

    def __iter__(self) -> Iterator[TypeEntry]:
        return iter(self.entries[name] for name in sorted(self.entries))

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, message_type: str) -> TypeEntry:
        """The entry for a type name or ``{namespace}root``; UnknownCatalogueType with hints."""
        entry = self.entries.get(message_type)
        if entry is not None:
            return entry
        for candidate in self.entries.values():
            if any(v.qname == message_type for v in candidate.versions):
                return candidate
        known = sorted(self.entries)
        close = difflib.get_close_matches(message_type, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UnknownCatalogueType(
            f"no message type {message_type!r} in the catalogue; {hint}"
            f"known types: {', '.join(known) or 'none'}"
        )
