"""Add a new message schema to a schema set: what ``exchange schemas add PATH.xsd`` does.

Steps, each refusing with a ConfigError that says what to fix:

1. collect the XSD and every local file it includes, imports or redefines (recursively);
2. check the schema strictly with xmlschema (libxml2 lets through schemas that break XSD's own
   rules, such as two same-named elements of different types in one content model);
3. pick the root element:

   - ``root`` when given: a local name, ``{namespace}name`` or ``prefix:name`` with a prefix the
     main XSD declares. It may be a global element of any document the XSD includes or
     imports, not only of its own namespace (a NIEM subset schema whose root is ``nc:Person``
     from the imported ``niem-core.xsd``); a bare local name is looked up in the schema's own
     namespace first;
   - otherwise the single global element of the schema's target namespace;
   - otherwise, with several, the one whose local name is the part of ``name`` after its last
     dot (``--name samr.EnterpriseRegistration`` picks ``EnterpriseRegistration``);

4. name it, unless ``name`` is given: ``<agency>.<Root>`` from the main XSD's target
   namespace (see :func:`default_name`): the last segment that is not a version (``1``, ``v2``,
   ``1.0``, ``100``), not a generic word (``xsd``, ``schema``, ``ns``, ``data``, ``standard``
   ...) and not the root's own name (spelt differently or with a version suffix, ``Order-2``);
   for an http(s) namespace whose path has no such segment, the organisation's label of the
   host (``www.example.com`` gives ``example``)::

       urn:cn:gov:samr:enterprise-registration:1               -> samr.EnterpriseRegistration
       urn:oasis:names:specification:ubl:schema:xsd:Order-2    -> ubl.Order
       urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100
                                                               -> uncefact.CrossIndustryInvoice
       http://example.com/xsd                                  -> example.Person
       http://example.org/schemas/tax/v2                       -> tax.Declaration

5. check it against the newest older version of the same name under the type's compatibility
   policy (:func:`exchange.schemas.compat.guard_registration`): a breaking version is refused
   unless ``force``, which records the breaks in its manifest;
6. copy the files into ``<schemas_dir>/<name>/<version>/`` keeping their relative layout (the
   folder must not exist yet), write ``manifest.yaml`` (a new version of a registered type
   keeps the previous version's owner, titles, descriptions, policy and, for the same root, its
   business rules) and empty ``samples/valid`` and
   ``samples/invalid`` folders, and compile it with the registry's own loader. The folder is
   built under a hidden name and renamed into place only once it compiles, so a failed
   registration leaves nothing behind and a concurrent load never sees half a folder.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from pathlib import Path

from exchange.errors import ConfigError
from exchange.schemas import compiler
from exchange.schemas.manifest import (
    MANIFEST_FILE,
    XSD_VERSIONS,
    Manifest,
    is_version,
    read_manifest,
    version_key,
)
from exchange.schemas.message import MessageSchema
from exchange.schemas.sources import declared_elements, schema_documents

_VERSION_SEGMENT = re.compile(r"^v?\d+([._-]\d+)*$", re.IGNORECASE)
_VERSION_SUFFIX = re.compile(r"[-_.]?v?\d+([._-]\d+)*$", re.IGNORECASE)
_NAME_CHARS = re.compile(r"[^\w.\-]")
#: namespace segments that say what the document is, not whose: never an agency name
_GENERIC = frozenset(
    [
        "xsd",
        "xml",
        "schema",
        "schemas",
        "ns",
        "namespace",
        "namespaces",
        "data",
        "standard",
        "standards",
        "spec",
        "specification",
        "specifications",
        "names",
        "types",
        "type",
        "common",
        "core",
        "document",
        "documents",
        "doc",
        "message",
        "messages",
        "maindoc",
        "model",
        "models",
        "def",
        "definitions",
    ]
)
#: host labels that name a registry, not an organisation (example.co.uk, samr.gov.cn)
_HOST_SUFFIXES = frozenset(["www", "com", "org", "net", "gov", "edu", "ac", "co", "int", "mil"])


def register_schema(
    xsd_path: Path,
    schemas_dir: Path,
    *,
    name: str | None = None,
    version: str = "1.0",
    root: str | None = None,
    xsd_version: str = "1.0",
    force: bool = False,
) -> MessageSchema:
    """Copy ``xsd_path`` (and what it references) into the schema set and compile it.

    ``force`` registers a version that breaks its type's compatibility policy (the breaks are
    recorded in its manifest); without it such a version is refused with IncompatibleSchema.
    """
    if not xsd_path.is_file():
        raise ConfigError(f"schema file {xsd_path} does not exist; give the path of an .xsd file")
    if not is_version(version):
        raise ConfigError(f'version {version!r} must be dotted numbers such as "1.0"')
    if xsd_version not in XSD_VERSIONS:
        raise ConfigError(f'xsd_version {xsd_version!r} must be "1.0" or "1.1"')
    documents = schema_documents(xsd_path)
    files = [doc.path for doc in documents]
    source_root = Path(os.path.commonpath([f.parent for f in files]))
    compiler.compile_xmlschema(files[0], source_root, xsd_version=xsd_version)

    namespace = documents[0].target_namespace
    if not namespace:
        raise ConfigError(
            f"{xsd_path}: has no targetNamespace; message schemas must put their root element in "
            "a namespace so that the hub can tell message types apart"
        )
    root_namespace, root_name = _pick_root(
        xsd_path, declared_elements(files[0]), namespace, documents[0].root.nsmap, name, root
    )
    name = name or default_name(namespace, root_name)
    if not re.match(r"^[A-Za-z_][\w.\-]*$", name):
        raise ConfigError(f"name {name!r} must be letters, digits, '.', '_' or '-'")

    target = schemas_dir / name / version
    if target.exists():
        raise ConfigError(
            f"{target} already exists; register under another version (--version) or remove "
            "that folder first"
        )
    building = target.parent / f".{version}.partial"
    if building.exists():
        shutil.rmtree(building)
    try:
        for source in files:
            destination = building / source.relative_to(source_root)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
        for kind in ("valid", "invalid"):
            (building / "samples" / kind).mkdir(parents=True, exist_ok=True)
        manifest = Manifest(
            folder=building,
            name=name,
            version=version,
            namespace=root_namespace,
            root=root_name,
            xsd=files[0].relative_to(source_root).as_posix(),
            xsd_version=xsd_version,
            namespaces=_prefixes(documents[0].root.nsmap, root_namespace),
        )
        manifest = _carry_over(manifest, _previous_manifest(schemas_dir, name, version))
        (building / MANIFEST_FILE).write_text(manifest.to_yaml(), encoding="utf-8")
        schema = MessageSchema.from_manifest(manifest)
        # Imported here: compat builds on this package's modules.
        from exchange.schemas.compat import guard_registration

        guard_registration(schema, schemas_dir, force=force)
        building.rename(target)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    # Read back from its place (the guard may have recorded accepted breaks); the compiled
    # schema comes from the cache, the files being the same.
    return MessageSchema.from_manifest(read_manifest(target))


def _previous_manifest(schemas_dir: Path, name: str, version: str) -> Manifest | None:
    """The manifest of the newest registered version of ``name`` older than ``version``."""
    older = [
        folder
        for folder in (schemas_dir / name).glob(f"*/{MANIFEST_FILE}")
        if is_version(folder.parent.name) and version_key(folder.parent.name) < version_key(version)
    ]
    if not older:
        return None
    newest = max(older, key=lambda path: version_key(path.parent.name))
    return read_manifest(newest.parent)


def _carry_over(manifest: Manifest, previous: Manifest | None) -> Manifest:
    """A new version of a type keeps what its previous version's manifest says about the type
    (owner, titles, descriptions, policy) and, for the same root, its business rules and their
    prefixes: registering 1.1 must not silently drop 1.0's rules. Edit the new manifest to
    change them."""
    if previous is None:
        return manifest
    kept = dataclasses.replace(
        manifest,
        title=previous.title,
        titles=dict(previous.titles),
        descriptions=dict(previous.descriptions),
        owner=previous.owner,
        compatibility=previous.compatibility,
    )
    if (previous.namespace, previous.root) != (manifest.namespace, manifest.root):
        return kept
    return dataclasses.replace(
        kept,
        namespaces={**previous.namespaces, **manifest.namespaces},
        rules=previous.rules,
    )


def _pick_root(
    xsd_path: Path,
    declared: list[str],
    namespace: str,
    nsmap: dict[str | None, str],
    name: str | None,
    root: str | None,
) -> tuple[str, str]:
    """(namespace, local name) of the message root; see the module doc for the rules."""
    own = [clark for clark in declared if clark.startswith(f"{{{namespace}}}")]
    local_names = [clark.split("}", 1)[1] for clark in own]
    if root is not None:
        return _given_root(xsd_path, declared, namespace, nsmap, root)
    if not local_names:
        raise ConfigError(
            f"{xsd_path}: declares no global element in {namespace}; a message schema needs one "
            "for the document's root (or name an imported element with --root prefix:name)"
        )
    if len(local_names) == 1:
        return namespace, local_names[0]
    if name is not None:
        wanted = name.rsplit(".", 1)[-1]
        if wanted in local_names:
            return namespace, wanted
    example = default_name(namespace, local_names[0])
    raise ConfigError(
        f"{xsd_path}: declares several global elements ({', '.join(local_names)}); say which is "
        f"the message root with --name ending in it, e.g. --name {example}"
    )


def _given_root(
    xsd_path: Path, declared: list[str], namespace: str, nsmap: dict[str | None, str], root: str
) -> tuple[str, str]:
    """The element ``root`` names: ``{ns}local``, ``prefix:local`` or a bare local name."""
    if root.startswith("{"):
        wanted = root
    elif ":" in root:
        prefix, local = root.split(":", 1)
        uri = nsmap.get(prefix)
        if uri is None:
            known = ", ".join(sorted(p for p in nsmap if p)) or "none"
            raise ConfigError(
                f"{xsd_path}: --root {root!r} uses the prefix {prefix!r}, which the schema does "
                f"not declare (its prefixes: {known}); use one of them or {{namespace}}{local}"
            )
        wanted = f"{{{uri}}}{local}"
    else:
        candidates = [c for c in declared if c.split("}", 1)[-1] == root]
        own = f"{{{namespace}}}{root}"
        if own in candidates or len(candidates) == 1:
            wanted = own if own in candidates else candidates[0]
        elif candidates:
            raise ConfigError(
                f"{xsd_path}: several included or imported schemas declare {root!r} "
                f"({', '.join(candidates)}); say which with --root {{namespace}}{root}"
            )
        else:
            wanted = own
    if wanted not in declared:
        listing = ", ".join(declared[:8]) + (
            f" and {len(declared) - 8} more" if len(declared) > 8 else ""
        )
        raise ConfigError(
            f"{xsd_path}: has no global element {root!r}; it and the schemas it includes or "
            f"imports declare {listing or 'none'}"
        )
    element_namespace, _, local = wanted[1:].partition("}")
    return element_namespace, local


def default_name(namespace: str, root: str) -> str:
    """``<agency>.<Root>``, the agency read from ``namespace`` (see the module doc)."""
    agency = _agency(namespace, root)
    return f"{agency}.{root}" if agency else root


def _agency(namespace: str, root: str) -> str | None:
    squashed_root = _squash(root)
    scheme, _, rest = namespace.partition(":")
    if not rest:
        scheme, rest = "", namespace
    host = ""
    if scheme.lower() in ("http", "https") and rest.startswith("//"):
        host, _, rest = rest[2:].partition("/")
        host = host.split("@")[-1].split(":")[0]
    for segment in reversed([s for s in re.split(r"[:/#?]+", rest) if s]):
        if _VERSION_SEGMENT.match(segment) or segment.lower() in _GENERIC:
            continue
        if squashed_root in (_squash(segment), _squash(_VERSION_SUFFIX.sub("", segment))):
            continue
        cleaned = _clean(segment)
        if cleaned:
            return cleaned
    labels = [label for label in host.lower().split(".") if label]
    if len(labels) > 1:
        labels = labels[:-1]  # the top-level domain
    while len(labels) > 1 and labels[-1] in _HOST_SUFFIXES:
        labels.pop()
    labels = [label for label in labels if label not in _HOST_SUFFIXES] or labels
    return _clean(labels[-1]) if labels else None


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _clean(segment: str) -> str | None:
    cleaned = _NAME_CHARS.sub("-", segment).strip(".-")
    return cleaned if cleaned and re.match(r"^[A-Za-z_]", cleaned) else None


def _prefixes(nsmap: dict[str | None, str], namespace: str) -> dict[str, str]:
    """The prefix the schema itself uses for its namespace, ready for rule paths."""
    for prefix, uri in nsmap.items():
        if prefix and uri == namespace:
            return {prefix: uri}
    return {}
