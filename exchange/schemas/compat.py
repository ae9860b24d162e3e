"""Is a new version of a message type compatible with the one before it?

Modes (the type's ``compatibility`` policy in ``manifest.yaml``, BACKWARD by default):

- ``BACKWARD``: every document valid under OLD stays valid under NEW (receivers can move to NEW
  while senders still send OLD). Checked by re-validating OLD's valid samples under NEW and by
  comparing the two schemas' structures (see :mod:`exchange.schemas.compat_structure`).
- ``FORWARD``: every document valid under NEW is valid under OLD (senders can move first): the
  same check with OLD and NEW swapped, so additions are breaks.
- ``FULL``: both. ``NONE``: no check.

:func:`guard_registration` is what ``register_schema`` calls before a new version is moved into
place: a breaking version is refused with :class:`IncompatibleSchema`, or, when forced, comes
in with its breaks recorded in its own ``manifest.yaml`` (``accepted_breaks``) and logged, so a
break never comes in silently.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from lxml import etree

from exchange.errors import ConfigError, ExchangeError
from exchange.schemas.compat_structure import Break, compare_structures
from exchange.schemas.manifest import (
    COMPATIBILITY_MODES,
    MANIFEST_FILE,
    is_version,
    read_manifest,
    version_key,
)
from exchange.schemas.message import MessageSchema
from exchange.xml import parse

log = logging.getLogger(__name__)

#: A break found comparing NEW → OLD (FORWARD mode), named and worded from OLD's side: an
#: element NEW "removed" in that comparison is an element NEW added, which OLD refuses.
_FORWARD: dict[str, tuple[str, str]] = {
    "element-removed": ("element-added", "NEW allows this element; OLD refuses it"),
    "element-required": (
        "required-element-removed",
        "OLD requires this element; documents written to NEW may lack it",
    ),
    "occurrence-narrowed": (
        "occurrence-widened",
        "NEW allows {new} occurrences where OLD allows {old}",
    ),
    "type-restricted": ("type-widened", "NEW's type takes values OLD's refuses ({message})"),
    "facet-tightened": ("facet-loosened", "NEW takes values OLD refuses ({message})"),
    "enumeration-dropped": ("enumeration-added", "NEW allows the value {new!r}; OLD does not"),
    "attribute-removed": ("attribute-added", "NEW allows this attribute; OLD refuses it"),
    "attribute-required": (
        "required-attribute-removed",
        "OLD requires this attribute; documents written to NEW may lack it",
    ),
}


@dataclass(frozen=True)
class CompatReport:
    """What :func:`check` found comparing two versions under one mode."""

    name: str
    old_version: str
    new_version: str
    mode: str
    breaks: tuple[Break, ...] = ()
    #: the samples re-validated (OLD's under NEW for backward, NEW's under OLD for forward)
    samples_checked: int = 0

    @property
    def compatible(self) -> bool:
        return not self.breaks

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "old_version": self.old_version,
            "new_version": self.new_version,
            "mode": self.mode,
            "compatible": self.compatible,
            "samples_checked": self.samples_checked,
            "breaks": [b.as_dict() for b in self.breaks],
        }

    def summary(self) -> str:
        """One line: the verdict, with the mode and the two versions."""
        versions = f"{self.name} {self.old_version} → {self.new_version}"
        if self.mode == "NONE":
            return f"{versions}: compatibility NONE, not checked"
        if self.compatible:
            return f"{versions}: {self.mode} compatible"
        count = len(self.breaks)
        return f"{versions}: not {self.mode} compatible, {count} break{'s' * (count != 1)}"

    def render(self) -> str:
        """The summary, then one line per break."""
        return "\n".join([self.summary(), *(f"  {b.line()}" for b in self.breaks)])


class IncompatibleSchema(ConfigError):
    """A new schema version breaks its type's compatibility policy; ``report`` says how.

    The message is the verdict and the fix on its first line, then one line per break (as the
    routing table's ConfigError lists its problems), so ``schemas add`` shows every path.
    """

    def __init__(self, report: CompatReport) -> None:
        self.report = report
        lines = [
            f"{report.summary()}; keep the change compatible, or register it deliberately with "
            "--force (the breaks are then recorded in its manifest):",
            *(f"  {b.line()}" for b in report.breaks),
        ]
        super().__init__("\n".join(lines))


def check(old: MessageSchema, new: MessageSchema, mode: str) -> CompatReport:
    """Compare ``old`` with ``new`` under ``mode`` (BACKWARD, FORWARD, FULL or NONE)."""
    mode = mode.upper()
    if mode not in COMPATIBILITY_MODES:
        raise ConfigError(
            f"compatibility mode {mode!r} is not known; use one of {', '.join(COMPATIBILITY_MODES)}"
        )
    breaks: list[Break] = []
    samples = 0
    models: dict[Path, Any] = {}  # each side's component model, built once for both directions
    if mode in ("BACKWARD", "FULL"):
        found, count = _one_way(old, new, models)
        breaks.extend(found)
        samples += count
    if mode in ("FORWARD", "FULL"):
        found, count = _one_way(new, old, models)
        breaks.extend(_as_forward(b) for b in found)
        samples += count
    return CompatReport(
        name=new.name,
        old_version=old.version,
        new_version=new.version,
        mode=mode,
        breaks=tuple(_unique(breaks)),
        samples_checked=samples,
    )


def _one_way(
    writer: MessageSchema, reader: MessageSchema, models: dict[Path, Any]
) -> tuple[list[Break], int]:
    """Ways a document valid under ``writer`` may be refused by ``reader`` (as OLD → NEW)."""
    breaks = compare_structures(writer, reader, models)
    sample_breaks, count = _revalidate_samples(writer, reader)
    return breaks + sample_breaks, count


def _revalidate_samples(writer: MessageSchema, reader: MessageSchema) -> tuple[list[Break], int]:
    """Each valid sample of ``writer`` that ``reader`` refuses is a break, named by its file."""
    breaks: list[Break] = []
    samples = writer.samples("valid")
    for sample in samples:
        try:
            tree = parse(sample.read_bytes())
        except (OSError, ExchangeError) as exc:
            raise ConfigError(
                f"{sample}: cannot read this valid sample ({exc}); fix or remove it"
            ) from exc
        problems = reader.validate(tree)
        if problems:
            first = problems[0]
            where = f" (line {first.line})" if first.line else ""
            breaks.append(
                Break(
                    kind="sample-invalid",
                    path=_readable_path(tree, first.path),
                    old=f"{writer.version} valid",
                    new=f"{reader.version} invalid",
                    message=(
                        f"sample {sample.name} of {writer.version} is refused by "
                        f"{reader.version}{where}: {first.message.strip()}"
                    ),
                )
            )
    return breaks, len(samples)


def _readable_path(tree: Any, lxml_path: str | None) -> str:
    """``/Registration/Unit[1]/Unit`` for lxml's ``/*/*[8]/*[2]`` (namespaces left out)."""
    if not lxml_path:
        return "/"
    try:
        found = tree.xpath(lxml_path)
    except Exception:  # lxml's own path should always evaluate; keep it when it does not
        return lxml_path
    if not found or not hasattr(found[0], "iterancestors"):
        return lxml_path
    element = found[0]
    steps = [element, *element.iterancestors()]
    return "/" + "/".join(etree.QName(e).localname for e in reversed(steps))


def _as_forward(found: Break) -> Break:
    """A break found comparing NEW → OLD, restated with OLD and NEW in their own places."""
    kind, sentence = _FORWARD.get(
        found.kind, (found.kind, "NEW accepts documents OLD refuses ({message})")
    )
    if found.kind == "sample-invalid":
        sentence = "{message}"  # already names the sample and both versions
    old, new = found.new, found.old
    return replace(
        found,
        kind=kind,
        old=old,
        new=new,
        message=sentence.format(old=old, new=new, message=found.message),
        direction="forward",
    )


def _unique(breaks: Iterable[Break]) -> list[Break]:
    """Each break once (FULL may find one twice), in the order found; every sample is kept."""
    return list(dict.fromkeys(breaks))


def previous_version(name: str, version: str, schemas_dir: Path) -> Path | None:
    """The folder of the newest version of ``name`` older than ``version``, or None."""
    key = version_key(version)
    older = [
        folder
        for folder in (schemas_dir / name).glob("*")
        if folder.is_dir()
        and not folder.name.startswith(".")
        and is_version(folder.name)
        and version_key(folder.name) < key
        and (folder / MANIFEST_FILE).is_file()
    ]
    return max(older, key=lambda f: version_key(f.name), default=None)


def policy_of(new: MessageSchema, old: MessageSchema) -> str:
    """NEW's stated policy; else OLD's (a type keeps its policy until a version changes it)."""
    if _states_policy(new):
        return _manifest_policy(new)
    return _manifest_policy(old)


def _states_policy(schema: MessageSchema) -> bool:
    # Manifest.compatibility defaults to BACKWARD, which cannot tell "said BACKWARD" from
    # "said nothing"; the file itself can.
    try:
        data = yaml.safe_load((schema.folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and data.get("compatibility") is not None


def _manifest_policy(schema: MessageSchema) -> str:
    return schema.manifest.compatibility if schema.manifest is not None else "BACKWARD"


def guard_registration(
    new: MessageSchema, schemas_dir: Path, *, force: bool
) -> CompatReport | None:
    """Check ``new`` against the newest older version of its type under ``schemas_dir``.

    None when there is no older version. Raises :class:`IncompatibleSchema` when the policy is
    broken, unless ``force``: then the breaks are written into ``new``'s manifest
    (``accepted_breaks``) and logged, and the report is returned.
    """
    previous = previous_version(new.name, new.version, schemas_dir)
    if previous is None:
        return None
    old = MessageSchema.from_manifest(read_manifest(previous))
    report = check(old, new, policy_of(new, old))
    if report.compatible:
        return report
    if not force:
        raise IncompatibleSchema(report)
    record_accepted_breaks(new.folder, report)
    log.warning(
        "%s; registered anyway (--force), the breaks recorded in its manifest: %s",
        report.summary(),
        "; ".join(f"{b.kind} {b.path}" for b in report.breaks),
    )
    return report


def record_accepted_breaks(folder: Path, report: CompatReport) -> None:
    """Add ``accepted_breaks`` to ``folder/manifest.yaml``, keeping the rest of the file as is."""
    path = folder / MANIFEST_FILE
    entry = {
        "accepted_breaks": {
            "against": report.old_version,
            "mode": report.mode,
            "at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "breaks": [
                {k: v for k, v in b.as_dict().items() if v is not None} for b in report.breaks
            ],
        }
    }
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if isinstance(data, dict) and "accepted_breaks" in data:
        # A folder forced in again (rare): replace the old record rather than keep two keys.
        data.update(entry)
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        text = text.rstrip("\n") + "\n" + yaml.safe_dump(entry, sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8")


__all__ = [
    "Break",
    "CompatReport",
    "IncompatibleSchema",
    "check",
    "guard_registration",
    "policy_of",
    "previous_version",
    "record_accepted_breaks",
]
