"""The files a schema is made of, and the global elements it declares, read without compiling.

Used to copy a schema with everything it includes, imports or redefines, and to check that a
manifest's root element is really declared where the manifest says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lxml import etree

from exchange.errors import ConfigError
from exchange.schemas import catalog
from exchange.schemas.compiler import XS_NAMESPACE

_XS = f"{{{XS_NAMESPACE}}}"
_REFERENCES = {f"{_XS}include", f"{_XS}import", f"{_XS}redefine", f"{_XS}override"}
_SAME_NAMESPACE = {f"{_XS}include", f"{_XS}redefine", f"{_XS}override"}


@dataclass(frozen=True)
class SchemaDocument:
    path: Path
    target_namespace: str
    root: etree._Element


def _parse(path: Path) -> etree._Element:
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    try:
        return etree.parse(str(path), parser).getroot()
    except (OSError, etree.XMLSyntaxError) as exc:
        raise ConfigError(f"{path}: cannot read the schema ({exc}); fix or add the file") from exc


def _local_reference(location: str, base: Path) -> Path | None:
    """The local file a schemaLocation names, or None when the W3C catalogue answers it."""
    if catalog.local_copy(location) is not None:
        return None
    parts = urlsplit(location)
    if parts.scheme == "file":
        return Path(unquote(parts.path)).resolve()
    if parts.scheme and len(parts.scheme) > 1:
        raise ConfigError(
            f"{base}: refers to {location}, which would need the network, and schemas are "
            "compiled offline; download it next to the schema and use a relative schemaLocation"
        )
    return (base.parent / unquote(location)).resolve()


def schema_documents(xsd_path: Path) -> list[SchemaDocument]:
    """The main schema and every local document it reaches, main first, each once."""
    start = xsd_path.resolve()
    seen: dict[Path, SchemaDocument] = {}
    pending: list[tuple[Path, str | None]] = [(start, None)]
    while pending:
        path, chameleon_namespace = pending.pop(0)
        if path in seen:
            continue
        root = _parse(path)
        namespace = root.get("targetNamespace")
        if namespace is None:
            namespace = chameleon_namespace or ""
        seen[path] = SchemaDocument(path=path, target_namespace=namespace, root=root)
        for element in root.iterchildren(*_REFERENCES):
            location = element.get("schemaLocation")
            if not location:
                continue
            target = _local_reference(location, path)
            if target is not None:
                inherited = namespace if element.tag in _SAME_NAMESPACE else None
                pending.append((target, inherited))
    return list(seen.values())


def schema_files(xsd_path: Path) -> list[Path]:
    """Every local file of the schema (main first): what must be copied to move it."""
    return [doc.path for doc in schema_documents(xsd_path)]


def global_elements(xsd_path: Path) -> list[str]:
    """Clark names of the global elements declared in the schema's own target namespace.

    Imported namespaces are left out: their elements are building blocks (a ds:Signature), not
    the message's root.
    """
    documents = schema_documents(xsd_path)
    own = documents[0].target_namespace
    names: list[str] = []
    for doc in documents:
        if doc.target_namespace != own:
            continue
        for element in doc.root.iterchildren(f"{_XS}element"):
            name = element.get("name")
            if name:
                clark = f"{{{own}}}{name}" if own else name
                if clark not in names:
                    names.append(clark)
    return names


def declared_elements(xsd_path: Path) -> list[str]:
    """Clark names of every global element of every local document the schema reaches.

    The schema's own namespace comes first. A root may come from an imported namespace: a NIEM
    subset schema imports ``niem-core.xsd``, whose ``nc:Person`` is the message's root.
    """
    documents = schema_documents(xsd_path)
    names: list[str] = []
    for doc in documents:
        for element in doc.root.iterchildren(f"{_XS}element"):
            name = element.get("name")
            if name:
                ns = doc.target_namespace
                clark = f"{{{ns}}}{name}" if ns else name
                if clark not in names:
                    names.append(clark)
    own = documents[0].target_namespace
    return sorted(names, key=lambda clark: not clark.startswith(f"{{{own}}}"))
