"""Compile XSDs offline: lxml for the hot path, xmlschema for strict checks and XSD 1.1.

Both compilers read schema documents only from the local disk:

- files inside the schema's own folder (includes, imports and redefines by relative path);
- the W3C schemas shipped in ``exchange/schemas/w3c/`` (see :mod:`exchange.schemas.catalog`),
  which also answer ``<xs:import>`` of a known namespace that has no schemaLocation.

Anything else (a remote URL, a file outside the folder, a missing file) is refused with a
ConfigError naming the location and the fix, even where the XSD engines would only warn and skip
the import: a schema that silently lost an import validates less than its author thinks.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import xmlschema
from lxml import etree

from exchange.errors import ConfigError
from exchange.schemas import catalog

XS_NAMESPACE = "http://www.w3.org/2001/XMLSchema"
_IMPORT = f"{{{XS_NAMESPACE}}}import"
_XMLSCHEMA_DIR = Path(xmlschema.__file__).resolve().parent

# Returned in place of a refused document so that libxml2 has something harmless to chew on;
# the refusal itself is reported by the compiler before any libxml2 message.
_REFUSED = b'<refused xmlns="urn:exchange:refused"/>'


def _secure_parser() -> etree.XMLParser:
    return etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _to_path(url: str) -> Path | None:
    """A local path for ``url``, or None when it names anything but a local file."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(unquote(parts.path)).resolve()
    # A one-letter scheme is a Windows drive, not a protocol.
    if parts.scheme and len(parts.scheme) > 1:
        return None
    return Path(url).resolve()


class _Policy:
    """Decides, for every location a compiler asks for, where it may be read from."""

    def __init__(self, xsd_path: Path, folder: Path) -> None:
        self.xsd_path = xsd_path
        self.folder = folder.resolve()
        self.refusals: list[str] = []

    def local_file(self, url: str, *, extra_roots: tuple[Path, ...] = ()) -> Path | None:
        """The file to read for ``url``; None (and a recorded refusal) when it is not allowed."""
        shipped = catalog.local_copy(url)
        if shipped is not None:
            return shipped
        path = _to_path(url)
        if path is None:
            self.refusals.append(
                f"{self.xsd_path}: refers to {url}, which would need the network, and schemas "
                f"are compiled offline; copy that schema into {self.folder} and point "
                "schemaLocation at the copy by a relative path"
            )
            return None
        roots = (self.folder, catalog.W3C_DIR, *extra_roots)
        if not any(_is_within(path, root) for root in roots):
            self.refusals.append(
                f"{self.xsd_path}: refers to {path}, outside the schema folder {self.folder}; "
                "copy that file into the folder and refer to it by a relative path"
            )
            return None
        if not path.is_file():
            self.refusals.append(
                f"{self.xsd_path}: refers to {path}, which does not exist; add the file or fix "
                "the schemaLocation"
            )
            return None
        return path

    def raise_refusals(self) -> None:
        if self.refusals:
            more = f" (and {len(self.refusals) - 1} more)" if len(self.refusals) > 1 else ""
            raise ConfigError(self.refusals[0] + more)


def _with_local_imports(data: bytes) -> bytes:
    """``data`` with a local schemaLocation added to imports of a catalogued namespace.

    libxml2 does not ask the resolver anything for an ``<xs:import>`` without schemaLocation,
    so those imports are completed in the document itself before it is handed over.
    """
    if b"import" not in data:
        return data
    try:
        root = etree.fromstring(data, _secure_parser())
    except etree.XMLSyntaxError:
        return data  # the compiler reports the syntax error with the file name
    changed = False
    for element in root.iterchildren(_IMPORT):
        namespace = element.get("namespace")
        shipped = catalog.namespace_copy(namespace) if namespace else None
        if element.get("schemaLocation") is None and shipped is not None:
            element.set("schemaLocation", shipped.as_uri())
            changed = True
    if not changed:
        return data
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


class _LocalResolver(etree.Resolver):
    """lxml resolver that serves schema documents from the policy's allowed places only."""

    def __init__(self, policy: _Policy) -> None:
        super().__init__()
        self.policy = policy

    def resolve(  # type: ignore[override]  # lxml-stubs omit the context argument
        self, system_url: str | None, public_id: str | None, context: Any
    ) -> Any:
        if system_url is None:
            return None
        path = self.policy.local_file(system_url)
        if path is None:
            return self.resolve_string(_REFUSED, context, base_url=system_url)
        data = _with_local_imports(path.read_bytes())
        return self.resolve_string(data, context, base_url=str(path))


def compile_lxml(xsd_path: Path, folder: Path) -> etree.XMLSchema:
    """Compile ``xsd_path`` with libxml2, reading only local files; raise ConfigError if not."""
    policy = _Policy(xsd_path, folder)
    parser = _secure_parser()
    parser.resolvers.add(_LocalResolver(policy))
    try:
        document = etree.parse(str(xsd_path.resolve()), parser)
    except (etree.XMLSyntaxError, OSError) as exc:
        policy.raise_refusals()
        raise ConfigError(
            f"{xsd_path}: cannot read the schema ({exc}); fix the XML of the schema file"
        ) from exc
    try:
        schema = etree.XMLSchema(document)
    except etree.XMLSchemaParseError as exc:
        policy.raise_refusals()
        raise ConfigError(
            f"{xsd_path}: the schema does not compile: {_first_error(exc.error_log)}; "
            "fix the schema"
        ) from exc
    policy.raise_refusals()
    return schema


def _first_error(log: Any) -> str:
    entries = [e for e in log if e.level >= etree.ErrorLevels.ERROR] or list(log)
    if not entries:
        return "libxml2 gave no reason"
    first = entries[0]
    where = f"{first.filename}:{first.line}" if first.filename else f"line {first.line}"
    more = f" (and {len(entries) - 1} more errors)" if len(entries) > 1 else ""
    return f"{where}: {first.message.rstrip('. ')}{more}"


class _XmlschemaMapper:
    """``uri_mapper`` for xmlschema: shipped copies for W3C URLs, a record of refusals."""

    def __init__(self, policy: _Policy) -> None:
        self.policy = policy

    def __call__(self, url: str) -> str:
        parts = urlsplit(url)
        relative = not parts.scheme and not Path(url).is_absolute()
        if relative:
            # xmlschema asks again with the URL resolved against its base; judge that one.
            return url
        path = self.policy.local_file(url, extra_roots=(_XMLSCHEMA_DIR,))
        return path.as_uri() if path is not None else url


def compile_xmlschema(xsd_path: Path, folder: Path, *, xsd_version: str = "1.0") -> Any:
    """Build ``xsd_path`` with xmlschema (strict), reading only local files.

    Used to check a schema before it is registered (xmlschema enforces XSD's own constraints
    that libxml2 lets through) and to validate XSD 1.1 schemas, which libxml2 does not support.
    """
    policy = _Policy(xsd_path, folder)
    cls = xmlschema.XMLSchema11 if xsd_version == "1.1" else xmlschema.XMLSchema10
    locations = [(ns, path.as_uri()) for ns, path in catalog.NAMESPACES.items()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            schema = cls(
                str(xsd_path.resolve()),
                allow="local",
                defuse="always",
                uri_mapper=_XmlschemaMapper(policy),
                locations=locations,
            )
        except (xmlschema.XMLSchemaException, OSError, SyntaxError) as exc:
            policy.raise_refusals()
            reason = " ".join(str(getattr(exc, "message", None) or exc).split())
            raise ConfigError(
                f"{xsd_path}: not a valid XSD {xsd_version} schema: {reason}; fix the schema"
            ) from exc
    policy.raise_refusals()
    for warning in caught:
        if issubclass(warning.category, xmlschema.XMLSchemaImportWarning):
            raise ConfigError(
                f"{xsd_path}: {warning.message}; make the imported schema available locally"
            )
    return schema
