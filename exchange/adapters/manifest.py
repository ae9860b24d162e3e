"""Reading ``adapter.yaml``: the spec of one adapter folder, checked key by key.

Every problem names the file and, where it can, the line, and says how to fix
it. All problems in a file are reported together.

    name: samr-to-canonical          # unique; ^[a-z0-9][a-z0-9._-]*$
    version: "1.0"                   # a string: quote it
    kind: xslt                       # xslt | python
    source: samr.EnterpriseRegistration
    target: canonical.LegalEntity
    title: Market regulation registration → legal-entity record   # optional
    stylesheet: samr-to-canonical.xsl                             # kind xslt
    class: adapter:ToEmployerRegistration                         # kind python
    options: {}                      # optional: string values
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from exchange.adapters.base import KINDS, NAME_PATTERN, AdapterSpec
from exchange.adapters.problems import AdapterConfigError

MANIFEST = "adapter.yaml"

_REQUIRED = {
    "name": "a unique name such as samr-to-canonical",
    "version": 'a quoted version such as "1.0"',
    "kind": "xslt or python",
    "source": "the message type it reads, such as samr.EnterpriseRegistration",
    "target": "the message type it writes, such as canonical.LegalEntity",
}
_PER_KIND = {"xslt": "stylesheet", "python": "class"}
_KNOWN = {*_REQUIRED, "title", "options", *_PER_KIND.values()}
_TYPE_NAME = re.compile(r"^\S+$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# XSLT parameter names are QNames without a prefix; keyword arguments are identifiers.
_OPTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Manifest:
    """A checked ``adapter.yaml`` and where each key was written."""

    spec: AdapterSpec
    path: Path
    stylesheet: Path | None = None
    module: str | None = None
    class_name: str | None = None
    lines: Mapping[str, int] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.path.parent

    def where(self, key: str | None = None) -> str:
        """``file:line`` of a key (or just the file) for messages."""
        line = self.lines.get(key) if key else None
        return f"{self.path}:{line}" if line else str(self.path)


def read_manifest(path: Path) -> Manifest:
    """Read and check one ``adapter.yaml``; raise AdapterConfigError listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AdapterConfigError(
            [f"{path}: cannot read it ({exc}); make it a readable UTF-8 file"]
        ) from exc
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        reason = getattr(exc, "problem", None) or str(exc)
        raise AdapterConfigError([f"{where}: not valid YAML ({reason}); fix the syntax"]) from exc
    if not isinstance(data, dict):
        raise AdapterConfigError(
            [f"{path}: must be a mapping of keys (name, version, kind, source, target, ...)"]
        )
    return _check(path, data, _key_lines(node))


def _key_lines(node: yaml.Node | None) -> dict[str, int]:
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                lines[str(key_node.value)] = key_node.start_mark.line + 1
    return lines


def _check(path: Path, data: dict[Any, Any], lines: dict[str, int]) -> Manifest:
    problems: list[str] = []

    def at(key: str | None = None) -> str:
        line = lines.get(key) if key else None
        return f"{path}:{line}" if line else str(path)

    for key in data:
        if str(key) not in _KNOWN:
            hint = difflib.get_close_matches(str(key), sorted(_KNOWN), n=1)
            known = ", ".join(sorted(_KNOWN))
            fix = f"did you mean '{hint[0]}'?" if hint else f"known keys: {known}"
            problems.append(f"{at(str(key))}: unknown key '{key}'; {fix}")

    values: dict[str, str] = {}
    for key, meaning in _REQUIRED.items():
        value = data.get(key)
        if value is None:
            problems.append(f"{at()}: missing required key '{key}'; add {key}: <{meaning}>")
        elif not isinstance(value, str) or not value.strip():
            problems.append(
                f"{at(key)}: '{key}' must be a non-empty string, got {value!r}; "
                f"write {meaning} (quote numbers)"
            )
        else:
            values[key] = value.strip()

    name = values.get("name")
    if name is not None and not NAME_PATTERN.match(name):
        problems.append(
            f"{at('name')}: name '{name}' is not allowed; use lower-case letters, digits, "
            "'.', '_' and '-', starting with a letter or digit"
        )
    for key in ("source", "target"):
        if key in values and not _TYPE_NAME.match(values[key]):
            problems.append(f"{at(key)}: {key} '{values[key]}' contains spaces; use a type name")

    kind = values.get("kind")
    if kind is not None and kind not in KINDS:
        hint = difflib.get_close_matches(kind, KINDS, n=1)
        fix = f"did you mean '{hint[0]}'?" if hint else f"use one of: {', '.join(KINDS)}"
        problems.append(f"{at('kind')}: unknown kind '{kind}'; {fix}")
        kind = None
    for other_kind, key in _PER_KIND.items():
        if kind is not None and other_kind != kind and key in data:
            problems.append(f"{at(key)}: '{key}' is only for kind {other_kind}; remove it")

    title = data.get("title")
    if title is not None and not isinstance(title, str):
        problems.append(f"{at('title')}: title must be a string, got {title!r}; quote it")
        title = None

    options = _options(data.get("options"), at("options"), problems)

    stylesheet: Path | None = None
    module = class_name = None
    if kind == "xslt":
        stylesheet = _stylesheet(path.parent, data.get("stylesheet"), at("stylesheet"), problems)
    elif kind == "python":
        module, class_name = _class_ref(path.parent, data.get("class"), at("class"), problems)

    if problems:
        raise AdapterConfigError(problems)
    spec = AdapterSpec(
        name=values["name"],
        version=values["version"],
        kind=values["kind"],
        source=values["source"],
        target=values["target"],
        title=title,
        options=options,
    )
    return Manifest(spec, path, stylesheet, module, class_name, lines)


def _options(raw: object, where: str, problems: list[str]) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(f"{where}: options must be a mapping of names to strings, got {raw!r}")
        return {}
    options: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not _OPTION_NAME.match(key):
            problems.append(
                f"{where}: option name {key!r} is not allowed; use letters, digits, '_', '.', '-'"
            )
        elif not isinstance(value, str):
            problems.append(
                f"{where}: option '{key}' must be a string, got {value!r}; quote the value"
            )
        else:
            options[key] = value
    return options


def _stylesheet(folder: Path, raw: object, where: str, problems: list[str]) -> Path | None:
    if raw is None:
        problems.append(
            f"{where}: missing required key 'stylesheet' for kind xslt; "
            "add stylesheet: <file name of the .xsl in this folder>"
        )
        return None
    if not isinstance(raw, str) or not raw.strip():
        problems.append(f"{where}: stylesheet must be a file name, got {raw!r}")
        return None
    candidate = (folder / raw.strip()).resolve()
    if not candidate.is_relative_to(folder.resolve()):
        problems.append(
            f"{where}: stylesheet '{raw}' is outside the adapter folder; keep it in {folder}"
        )
        return None
    if not candidate.is_file():
        present = sorted(p.name for p in folder.glob("*.xsl*"))
        hint = difflib.get_close_matches(raw, present, n=1)
        fix = f"did you mean '{hint[0]}'?" if hint else "put the stylesheet in the adapter folder"
        problems.append(f"{where}: stylesheet '{raw}' does not exist in {folder}; {fix}")
        return None
    return candidate


def _class_ref(
    folder: Path, raw: object, where: str, problems: list[str]
) -> tuple[str | None, str | None]:
    if raw is None:
        problems.append(
            f"{where}: missing required key 'class' for kind python; "
            "add class: <module file without .py>:<class name>"
        )
        return None, None
    module, _, class_name = str(raw).partition(":") if isinstance(raw, str) else ("", "", "")
    if not (_IDENTIFIER.match(module) and _IDENTIFIER.match(class_name)):
        problems.append(
            f"{where}: class {raw!r} is not of the form <module>:<Class>; "
            "write e.g. class: adapter:ToEmployerRegistration"
        )
        return None, None
    if not (folder / f"{module}.py").is_file():
        present = sorted(p.stem for p in folder.glob("*.py"))
        hint = difflib.get_close_matches(module, present, n=1)
        fix = f"did you mean '{hint[0]}'?" if hint else f"add {module}.py to the adapter folder"
        problems.append(f"{where}: module file '{module}.py' does not exist in {folder}; {fix}")
        return None, None
    return module, class_name
