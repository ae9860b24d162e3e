"""Add a new message schema to a schema set: what ``exchange schemas add PATH.xsd`` does.

Steps, each refusing with a ConfigError that says what to fix:

1. collect the XSD and every local file it includes, imports or redefines (recursively);
2. check the schema strictly with xmlschema (libxml2 lets through schemas that break XSD's own
   rules, such as two same-named elements of different types in one content model);
3. pick the root element:

   - ``root`` when given (a local name or ``{namespace}name``);
   - otherwise the single global element of the schema's target namespace;
   - otherwise, with several, the one whose local name is the part of ``name`` after its last
     dot (``--name samr.EnterpriseRegistration`` picks ``EnterpriseRegistration``);

4. name it, unless ``name`` is given: ``<agency>.<Root>``, where ``<agency>`` is the last
   segment of the target namespace that is neither a version (``1``, ``v2``, ``1.0``) nor the
   root's own name spelt differently. ``urn:cn:gov:samr:enterprise-registration:1`` with root
   ``EnterpriseRegistration`` gives ``samr.EnterpriseRegistration``;
5. copy the files into ``<schemas_dir>/<name>/<version>/`` keeping their relative layout (the
   folder must not exist yet), write ``manifest.yaml`` and empty ``samples/valid`` and
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
from exchange.schemas.manifest import MANIFEST_FILE, XSD_VERSIONS, Manifest, is_version
from exchange.schemas.message import MessageSchema
from exchange.schemas.sources import global_elements, schema_documents

_VERSION_SEGMENT = re.compile(r"^v?\d+([._-]\d+)*$", re.IGNORECASE)
_NAME_CHARS = re.compile(r"[^\w.\-]")


def register_schema(
    xsd_path: Path,
    schemas_dir: Path,
    *,
    name: str | None = None,
    version: str = "1.0",
    root: str | None = None,
    xsd_version: str = "1.0",
) -> MessageSchema:
    """Copy ``xsd_path`` (and what it references) into the schema set and compile it."""
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
    root_name = _pick_root(xsd_path, global_elements(files[0]), namespace, name, root)
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
            namespace=namespace,
            root=root_name,
            xsd=files[0].relative_to(source_root).as_posix(),
            xsd_version=xsd_version,
            namespaces=_prefixes(documents[0].root.nsmap, namespace),
        )
        (building / MANIFEST_FILE).write_text(manifest.to_yaml(), encoding="utf-8")
        schema = MessageSchema.from_manifest(manifest)
        building.rename(target)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return dataclasses.replace(schema, folder=target, xsd_path=target / manifest.xsd)


def _pick_root(
    xsd_path: Path, declared: list[str], namespace: str, name: str | None, root: str | None
) -> str:
    local_names = [clark.split("}", 1)[1] for clark in declared]
    if not local_names:
        raise ConfigError(
            f"{xsd_path}: declares no global element in {namespace}; a message schema needs one "
            "for the document's root"
        )
    if root is not None:
        wanted = root.split("}", 1)[1] if root.startswith("{") else root
        if wanted not in local_names:
            raise ConfigError(
                f"{xsd_path}: has no global element {root!r}; it declares {', '.join(local_names)}"
            )
        return wanted
    if len(local_names) == 1:
        return local_names[0]
    if name is not None:
        wanted = name.rsplit(".", 1)[-1]
        if wanted in local_names:
            return wanted
    example = default_name(namespace, local_names[0])
    raise ConfigError(
        f"{xsd_path}: declares several global elements ({', '.join(local_names)}); say which is "
        f"the message root with --name ending in it, e.g. --name {example}"
    )


def default_name(namespace: str, root: str) -> str:
    """``<agency>.<Root>`` from the namespace's last meaningful segment (see module doc)."""
    squashed_root = re.sub(r"[^a-z0-9]", "", root.lower())
    segments = [s for s in re.split(r"[:/#]+", namespace) if s]
    for segment in reversed(segments[1:] if len(segments) > 1 else segments):
        if _VERSION_SEGMENT.match(segment):
            continue
        if re.sub(r"[^a-z0-9]", "", segment.lower()) == squashed_root:
            continue
        cleaned = _NAME_CHARS.sub("-", segment).strip(".-")
        if cleaned and re.match(r"^[A-Za-z_]", cleaned):
            return f"{cleaned}.{root}"
    return root


def _prefixes(nsmap: dict[str | None, str], namespace: str) -> dict[str, str]:
    """The prefix the schema itself uses for its namespace, ready for rule paths."""
    for prefix, uri in nsmap.items():
        if prefix and uri == namespace:
            return {prefix: uri}
    return {}
