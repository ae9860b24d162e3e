"""The ``manifest.yaml`` of one schema folder: read, checked, and written.

A schema set on disk holds one folder per message type and version, ``<name>/<version>/``, with
``manifest.yaml``, the XSD(s) and samples under ``samples/valid`` and ``samples/invalid``::

    name: samr.EnterpriseRegistration
    version: "1.0"
    title: {en: Enterprise registration, zh: 企业设立登记}   # or one string
    description: {en: ..., zh: ...}   # optional, like title
    owner: samr                   # optional: the department that publishes the type
    compatibility: BACKWARD       # optional: BACKWARD (default), FORWARD, FULL or NONE
    namespace: urn:cn:gov:samr:enterprise-registration:1
    root: EnterpriseRegistration
    xsd: enterprise-registration.xsd
    xsd_version: "1.0"            # optional: "1.0" (lxml, fast) or "1.1" (xmlschema, slow)
    namespaces: {samr: urn:cn:gov:samr:enterprise-registration:1}
    rules:
      - {rule: uscc, path: /samr:EnterpriseRegistration/samr:Enterprise/samr:CreditCode}

Unknown keys are refused rather than ignored, so that a misspelt ``rules`` cannot silently turn
the business rules off. Versions are dotted numbers ("1", "1.0", "2.10") and compare
numerically.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from exchange.errors import ConfigError

MANIFEST_FILE = "manifest.yaml"
XSD_VERSIONS = ("1.0", "1.1")
_REQUIRED = ("name", "version", "namespace", "root", "xsd")
_OPTIONAL = (
    "title",
    "description",
    "owner",
    "compatibility",
    "xsd_version",
    "namespaces",
    "rules",
    "accepted_breaks",
)
#: How a new version must relate to the one before it (``exchange schemas check``).
COMPATIBILITY_MODES = ("BACKWARD", "FORWARD", "FULL", "NONE")
#: Languages a title or description may be given in, the first being the default shown.
LANGUAGES = ("en", "zh")
_VERSION = re.compile(r"^\d+(\.\d+)*$")
_NAME = re.compile(r"^[A-Za-z_][\w.\-]*$")


def version_key(version: str) -> tuple[int, ...]:
    """Numeric sort key of a dotted version; trailing zeros dropped so "1" equals "1.0"."""
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def is_version(text: str) -> bool:
    return bool(_VERSION.match(text))


@dataclass(frozen=True)
class RuleSpec:
    rule: str
    path: str


@dataclass(frozen=True)
class Manifest:
    """What a manifest says, checked for shape; the folder it was read from."""

    folder: Path
    name: str
    version: str
    namespace: str
    root: str
    xsd: str
    title: str | None = None
    xsd_version: str = "1.0"
    namespaces: dict[str, str] = field(default_factory=dict)
    rules: tuple[RuleSpec, ...] = ()
    #: every language the title is given in ({"en": ..., "zh": ...}); ``title`` is the first
    titles: dict[str, str] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    owner: str | None = None
    compatibility: str = "BACKWARD"
    #: breaks of the compatibility policy accepted with ``--force`` (written by
    #: exchange.schemas.compat: against, mode, at, breaks), kept as the file says
    accepted_breaks: dict[str, Any] | None = None

    @property
    def description(self) -> str | None:
        return next(iter(self.descriptions.values()), None)

    @property
    def path(self) -> Path:
        return self.folder / MANIFEST_FILE

    @property
    def xsd_path(self) -> Path:
        return self.folder / self.xsd

    def to_yaml(self) -> str:
        data: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "title": _localized_yaml(self.titles) or self.title,
            "description": _localized_yaml(self.descriptions),
            "owner": self.owner,
            "compatibility": None if self.compatibility == "BACKWARD" else self.compatibility,
            "namespace": self.namespace,
            "root": self.root,
            "xsd": self.xsd,
            "xsd_version": self.xsd_version,
            "namespaces": dict(self.namespaces),
            "rules": [{"rule": r.rule, "path": r.path} for r in self.rules],
        }
        if self.accepted_breaks is not None:
            data["accepted_breaks"] = self.accepted_breaks
        for key in ("title", "description", "owner", "compatibility"):
            if data[key] is None:
                del data[key]
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def read_manifest(folder: Path) -> Manifest:
    """Read ``folder/manifest.yaml``; ConfigError naming the file and the fix if it is wrong."""
    path = folder / MANIFEST_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the manifest ({exc})") from exc
    except yaml.YAMLError as exc:
        reason = " ".join(str(exc).split())
        raise ConfigError(f"{path}: not valid YAML ({reason}); fix the syntax") from exc
    return parse_manifest(data, folder)


def parse_manifest(data: Any, folder: Path) -> Manifest:
    where = folder / MANIFEST_FILE
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the manifest must be a mapping of keys such as name, version")
    unknown = [k for k in data if k not in _REQUIRED + _OPTIONAL]
    if unknown:
        key = str(unknown[0])
        close = difflib.get_close_matches(key, _REQUIRED + _OPTIONAL, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"{where}: unknown key {key!r}; {hint}allowed keys: {', '.join(_REQUIRED + _OPTIONAL)}"
        )
    missing = [k for k in _REQUIRED if data.get(k) in (None, "")]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}; add them to the manifest")
    texts = {k: _text(data, k, where) for k in (*_REQUIRED, "owner", "xsd_version")}
    titles = _localized(data, "title", where)
    compatibility = (_text(data, "compatibility", where) or "BACKWARD").upper()
    if compatibility not in COMPATIBILITY_MODES:
        raise ConfigError(
            f"{where}: compatibility {compatibility!r} must be one of "
            f"{', '.join(COMPATIBILITY_MODES)}"
        )
    name, version = texts["name"], texts["version"]
    assert name is not None and version is not None
    if not _NAME.match(name):
        raise ConfigError(
            f"{where}: name {name!r} must be letters, digits, '.', '_' or '-' "
            "(e.g. samr.EnterpriseRegistration)"
        )
    if not is_version(version):
        raise ConfigError(
            f'{where}: version {version!r} must be dotted numbers such as "1.0"; fix it'
        )
    xsd_version = texts["xsd_version"] or "1.0"
    if xsd_version not in XSD_VERSIONS:
        raise ConfigError(f'{where}: xsd_version {xsd_version!r} must be "1.0" or "1.1"')
    return Manifest(
        folder=folder,
        name=name,
        version=version,
        namespace=str(texts["namespace"]),
        root=str(texts["root"]),
        xsd=str(texts["xsd"]),
        title=next(iter(titles.values()), None),
        titles=titles,
        descriptions=_localized(data, "description", where),
        owner=texts["owner"],
        compatibility=compatibility,
        xsd_version=xsd_version,
        namespaces=_namespaces(data.get("namespaces"), where),
        rules=_rules(data.get("rules"), where),
        accepted_breaks=_accepted_breaks(data.get("accepted_breaks"), where),
    )


def _accepted_breaks(value: Any, where: Path) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("breaks"), list):
        raise ConfigError(
            f"{where}: accepted_breaks must be a mapping with a breaks list (written by "
            "`exchange schemas add --force`); restore it or remove the key"
        )
    return dict(value)


def _localized(data: dict[str, Any], key: str, where: Path) -> dict[str, str]:
    """A title or description: one string (its language unsaid: "en") or {en: ..., zh: ...}."""
    value = data.get(key)
    if value is None:
        return {}
    if isinstance(value, dict):
        unknown = [lang for lang in value if lang not in LANGUAGES]
        if unknown or not all(isinstance(v, str) and v.strip() for v in value.values()):
            raise ConfigError(
                f"{where}: {key} must be one string or a mapping of {', '.join(LANGUAGES)} "
                f"to non-empty strings, e.g. {key}: {{en: Enterprise registration, zh: 企业登记}}"
            )
        return {lang: value[lang].strip() for lang in LANGUAGES if lang in value}
    text = _text(data, key, where)
    return {"en": text} if text else {}


def _localized_yaml(texts: dict[str, str]) -> str | dict[str, str] | None:
    if not texts:
        return None
    if list(texts) == ["en"]:
        return texts["en"]
    return dict(texts)


def _text(data: dict[str, Any], key: str, where: Path) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # YAML reads 1.10 as the float 1.1: refuse rather than guess what was meant.
        raise ConfigError(f'{where}: {key} must be a quoted string, e.g. {key}: "{value}"')
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be a string, not {type(value).__name__}")
    return value.strip()


def _namespaces(value: Any, where: Path) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigError(f"{where}: namespaces must map prefixes to namespace URIs")
    return dict(value)


def _rules(value: Any, where: Path) -> tuple[RuleSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(f"{where}: rules must be a list of {{rule: ID, path: XPATH}} entries")
    specs: list[RuleSpec] = []
    for index, entry in enumerate(value, 1):
        if (
            not isinstance(entry, dict)
            or set(entry) != {"rule", "path"}
            or not all(isinstance(v, str) and v for v in entry.values())
        ):
            raise ConfigError(
                f"{where}: rule #{index} must have exactly the keys rule and path, both "
                "non-empty strings"
            )
        specs.append(RuleSpec(rule=entry["rule"], path=entry["path"]))
    return tuple(specs)
