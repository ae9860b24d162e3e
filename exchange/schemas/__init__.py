"""Message schemas: look up by type and version, validate (XSD + business rules).

A hub home's ``schemas/`` folder holds one folder per message type and version
(``schemas/<name>/<version>/``) with ``manifest.yaml``, the XSD(s) and samples; see
:mod:`exchange.schemas.manifest` for the manifest format and :mod:`exchange.schemas.rules` for
the built-in business rules. Schemas are compiled offline: imports resolve inside the schema's
folder or to the W3C schemas shipped in ``exchange/schemas/w3c/``. Loading reads manifests only;
a schema is compiled when first used (or by ``compile_all()``, which the hub calls at start and
on reload) and kept in a process-wide cache by its folder's content (``exchange.schemas.cache``).

    registry = SchemaRegistry.load(home / "schemas")
    schema = registry.for_document(tree)
    problems = schema.validate(tree)     # [] when valid
"""

from exchange.schemas.manifest import Manifest, RuleSpec, read_manifest, version_key
from exchange.schemas.message import MessageSchema
from exchange.schemas.register import default_name, register_schema
from exchange.schemas.registry import SchemaRegistry
from exchange.schemas.rules import BUILTIN_RULES

__all__ = [
    "BUILTIN_RULES",
    "Manifest",
    "MessageSchema",
    "RuleSpec",
    "SchemaRegistry",
    "default_name",
    "read_manifest",
    "register_schema",
    "version_key",
]
