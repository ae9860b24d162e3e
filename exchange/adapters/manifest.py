"""Reading ``adapter.yaml``: the spec of one adapter folder, checked key by key.

Every problem names the file and, where it can, the line, and says how to fix
it. All problems in a file are reported together.

    name: samr-to-canonical          # unique; ^[a-z0-9][a-z0-9._-]*$
    version: "1.0"                   # a string: quote it
    kind: xslt                       # xslt | python | mapping | a plug-in kind
    source: samr.EnterpriseRegistration
    target: canonical.LegalEntity
    title: Market regulation registration → legal-entity record   # optional
    options: {}                      # optional: string values
    time_limit: 2.5                  # optional: seconds per translation
    stylesheet: samr-to-canonical.xsl                             # kind xslt
    class: adapter:ToEmployerRegistration                         # kind python

The keys above ``stylesheet`` are common to every kind; the others belong to
the kind named by ``kind``, which declares them in its ``config_model``
(``exchange.adapters.kinds``), so a plug-in kind brings its own keys.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from exchange.adapters.base import NAME_PATTERN, AdapterSpec
from exchange.adapters.kinds import AdapterKinds, KindConfig, default_kinds
from exchange.adapters.problems import AdapterConfigError, not_yaml
from exchange.plugins import PluginError

MANIFEST = "adapter.yaml"

_REQUIRED = {
    "name": "a unique name such as samr-to-canonical",
    "version": 'a quoted version such as "1.0"',
    "kind": "xslt, python or mapping",
    "source": "the message type it reads, such as samr.EnterpriseRegistration",
    "target": "the message type it writes, such as canonical.LegalEntity",
}
COMMON_KEYS = (*_REQUIRED, "title", "options", "time_limit")
_TYPE_NAME = re.compile(r"^\S+$")
# XSLT parameter names are QNames without a prefix; keyword arguments are identifiers.
_OPTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Manifest:
    """A checked ``adapter.yaml``: the common spec, the kind's config, where each key was."""

    spec: AdapterSpec
    path: Path
    config: BaseModel
    lines: Mapping[str, int] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def stylesheet(self) -> Path | None:
        """Kind xslt: the stylesheet as written (checked when the adapter is built)."""
        name = getattr(self.config, "stylesheet", None) if self.spec.kind == "xslt" else None
        return self.folder / name if isinstance(name, str) else None

    def where(self, key: str | None = None) -> str:
        """``file:line`` of a key (or just the file) for messages."""
        line = self.lines.get(key) if key else None
        return f"{self.path}:{line}" if line else str(self.path)


def read_manifest(path: Path, kinds: AdapterKinds | None = None) -> Manifest:
    """Read and check one ``adapter.yaml``; raise AdapterConfigError listing every problem.

    ``kinds`` are the adapter kinds to resolve ``kind`` with (default: built-ins
    and installed plug-ins).
    """
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
        raise not_yaml(path, exc) from exc
    if not isinstance(data, dict):
        raise AdapterConfigError(
            [f"{path}: must be a mapping of keys (name, version, kind, source, target, ...)"]
        )
    return _check(path, data, _key_lines(node), kinds or default_kinds())


def _key_lines(node: yaml.Node | None) -> dict[str, int]:
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                lines[str(key_node.value)] = key_node.start_mark.line + 1
    return lines


def _check(
    path: Path, data: dict[Any, Any], lines: dict[str, int], kinds: AdapterKinds
) -> Manifest:
    problems: list[str] = []

    def at(key: str | None = None) -> str:
        line = lines.get(key) if key else None
        return f"{path}:{line}" if line else str(path)

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

    kind_name = values.get("kind")
    model: type[BaseModel] | None = None
    if kind_name is not None and kind_name not in kinds:
        known = kinds.names()
        hint = difflib.get_close_matches(kind_name, known, n=1)
        fix = f"did you mean '{hint[0]}'?" if hint else f"use one of: {', '.join(known)}"
        problems.append(f"{at('kind')}: unknown kind '{kind_name}'; {fix}")
    elif kind_name is not None:
        try:
            model = kinds.get(kind_name).config_model
        except PluginError as exc:
            problems.append(f"{at('kind')}: {exc}")

    kind_data = {str(k): v for k, v in data.items() if str(k) not in COMMON_KEYS}
    if model is not None:
        config = _config(model, kind_name or "", kind_data, at, kinds, problems)
    else:
        config = None
        if kind_name is None:  # no kind to own the other keys: only typos of common keys
            for key in kind_data:
                hint = difflib.get_close_matches(key, COMMON_KEYS, n=1)
                if hint:
                    problems.append(f"{at(key)}: unknown key '{key}'; did you mean '{hint[0]}'?")

    title = data.get("title")
    if title is not None and not isinstance(title, str):
        problems.append(f"{at('title')}: title must be a string, got {title!r}; quote it")
        title = None

    options = _options(data.get("options"), at("options"), problems)
    time_limit = _time_limit(data.get("time_limit"), at("time_limit"), problems)

    if problems:
        raise AdapterConfigError(problems)
    assert config is not None
    if isinstance(config, KindConfig):
        config.locate(path, lines)
    spec = AdapterSpec(
        name=values["name"],
        version=values["version"],
        kind=values["kind"],
        source=values["source"],
        target=values["target"],
        title=title,
        options=options,
        time_limit=time_limit,
    )
    return Manifest(spec, path, config, lines)


def _config(
    model: type[BaseModel],
    kind: str,
    data: dict[str, Any],
    at: Any,
    kinds: AdapterKinds,
    problems: list[str],
) -> BaseModel | None:
    """The kind's config from its keys, each validation error as one problem at its line."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        own = _keys_of(model)
        for error in exc.errors():
            key = str(error["loc"][0]) if error["loc"] else None
            if error["type"] == "extra_forbidden" and key is not None:
                problems.append(_unknown_key(key, kind, own, at, kinds))
            elif error["type"] == "missing" and key is not None:
                info = _field_info(model, key)
                meaning = info.description if info is not None and info.description else "..."
                problems.append(
                    f"{at(key)}: missing required key '{key}' for kind {kind}; "
                    f"add {key}: <{meaning}>"
                )
            else:
                path = ".".join(str(part) for part in error["loc"])
                problems.append(
                    f"{at(key)}: '{path or kind}' {error['msg'][:1].lower()}{error['msg'][1:]}, "
                    f"got {error.get('input')!r}; fix it (kind {kind})"
                )
        return None


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _field_info(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _unknown_key(key: str, kind: str, own: list[str], at: Any, kinds: AdapterKinds) -> str:
    # A key of another kind is most often a kind changed without its keys:
    # say so rather than guess at a spelling. Only the built-ins are asked,
    # so that a typo does not import every installed plug-in.
    for other in ("xslt", "python", "mapping"):
        if other == kind or other not in kinds:
            continue
        try:
            if key in _keys_of(kinds.get(other).config_model):
                return f"{at(key)}: '{key}' is only for kind {other}; remove it"
        except PluginError:
            continue
    known = [*COMMON_KEYS, *own]
    hint = difflib.get_close_matches(key, known, n=1)
    fix = f"did you mean '{hint[0]}'?" if hint else f"known keys: {', '.join(sorted(known))}"
    return f"{at(key)}: unknown key '{key}'; {fix}"


def _time_limit(raw: object, where: str, problems: list[str]) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not raw > 0:
        problems.append(
            f"{where}: time_limit must be a positive number of seconds, got {raw!r}; "
            "write e.g. time_limit: 2.5, or leave it out for the hub's default"
        )
        return None
    return float(raw)


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
