"""The registry of message types: every schema folder of a hub home, indexed without compiling.

:meth:`SchemaRegistry.load` reads the manifests only (cheap: a tool that needs one type, such as
``exchange schemas validate``, compiles just that one at its first validate);
:meth:`SchemaRegistry.compile_all` compiles every type, which the hub does at start and on
reload so that a broken schema is refused before it meets a message.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from pathlib import Path

from lxml import etree

from exchange.errors import ConfigError, UnknownMessageType
from exchange.schemas.manifest import MANIFEST_FILE, is_version, read_manifest, version_key
from exchange.schemas.message import MessageSchema

_Versions = dict[tuple[int, ...], MessageSchema]


class SchemaRegistry:
    """Message schemas by short name and by root qname (Clark notation), each by version.

    Build one with :meth:`load` (a hub home's ``schemas/`` folder) or from schemas already
    built; instances are independent, so tests can build their own.
    """

    def __init__(self, schemas: Iterable[MessageSchema] = ()) -> None:
        self._by_name: dict[str, _Versions] = {}
        self._by_qname: dict[str, _Versions] = {}
        for schema in schemas:
            self._add(schema)

    @classmethod
    def load(cls, schemas_dir: Path) -> SchemaRegistry:
        """Read every ``<name>/<version>/manifest.yaml`` under ``schemas_dir`` (no compiling).

        Raises ConfigError naming the folder or file and the fix on the first manifest, folder
        or business rule that is wrong; XSD errors surface at :meth:`compile_all` or at the
        type's first validate.
        """
        if not schemas_dir.is_dir():
            raise ConfigError(
                f"schema folder {schemas_dir} does not exist; create it or set EXCHANGE_HOME to "
                "the folder that holds schemas/"
            )
        registry = cls()
        for manifest_path in sorted(schemas_dir.glob(f"*/*/{MANIFEST_FILE}")):
            folder = manifest_path.parent
            if any(part.startswith(".") for part in folder.relative_to(schemas_dir).parts):
                continue
            manifest = read_manifest(folder)
            if (manifest.name, manifest.version) != (folder.parent.name, folder.name):
                raise ConfigError(
                    f"{manifest_path}: says {manifest.name} {manifest.version} but lives in "
                    f"{folder.parent.name}/{folder.name}/; move the folder to "
                    f"{manifest.name}/{manifest.version}/ or fix the manifest"
                )
            registry._add(MessageSchema.from_manifest(manifest, compile=False))
        return registry

    def compile_all(self) -> None:
        """Compile every schema not compiled yet (unchanged folders come from the cache).

        Raises the ConfigError of the first folder that does not compile or whose manifest
        names a root its XSD does not declare: a hub must not start with half its schemas.
        """
        for schema in self:
            schema.compile()

    def _add(self, schema: MessageSchema) -> None:
        key = version_key(schema.version)
        for index, label in ((self._by_name, schema.name), (self._by_qname, schema.qname)):
            versions = index.setdefault(label, {})
            other = versions.get(key)
            if other is not None and other is not schema:
                raise ConfigError(
                    f"{schema.folder}: {label} version {schema.version} is already registered "
                    f"from {other.folder}; give one of them another version or root element"
                )
            versions[key] = schema

    def lookup(self, message_type: str, version: str | None = None) -> MessageSchema:
        """The schema for a short name or ``{namespace}root``; the newest version when None."""
        index = self._by_qname if message_type.startswith("{") else self._by_name
        versions = index.get(message_type)
        if versions is None:
            raise UnknownMessageType(self._unknown_type_hint(message_type, index))
        return self._pick(message_type, versions, version)

    def for_document(
        self, tree: etree._ElementTree | etree._Element, version: str | None = None
    ) -> MessageSchema:
        """The schema for a parsed document, found by its root element's qname."""
        root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
        qname = str(root.tag)
        versions = self._by_qname.get(qname)
        if versions is None:
            raise UnknownMessageType(self._unknown_type_hint(qname, self._by_qname))
        return self._pick(qname, versions, version)

    def _pick(self, label: str, versions: _Versions, version: str | None) -> MessageSchema:
        if version is None:
            return versions[max(versions)]
        schema = versions.get(version_key(version)) if is_version(version) else None
        if schema is None:
            known = ", ".join(versions[k].version for k in sorted(versions))
            raise UnknownMessageType(
                f"message type {label} has no version {version!r}; known versions: {known}; "
                "send one of them or register the schema version"
            )
        return schema

    def _unknown_type_hint(self, label: str, index: dict[str, _Versions]) -> str:
        known = sorted(index)
        close = difflib.get_close_matches(label, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        listing = ", ".join(known) if known else "none"
        return (
            f"no schema registered for message type {label!r}; {hint}known types: {listing}; "
            "register its schema with `exchange schemas add`"
        )

    def __iter__(self) -> Iterator[MessageSchema]:
        """Every schema, by name then version (oldest first)."""
        for name in sorted(self._by_name):
            versions = self._by_name[name]
            for key in sorted(versions):
                yield versions[key]

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_name.values())

    def __contains__(self, message_type: object) -> bool:
        return isinstance(message_type, str) and (
            message_type in self._by_name or message_type in self._by_qname
        )
