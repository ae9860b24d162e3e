"""Adapters translate a document of one message type into another.

Kinds (``exchange.adapters.kinds``): sandboxed XSLT stylesheets, Python classes
(from an adapter folder or, through the entry point group ``exchange.adapters``,
from another package), declarative mappings, and plug-in kinds from the entry
point group ``exchange.adapter_kinds``; each kind owns its ``adapter.yaml`` keys.
The registry loads adapters from a hub home's ``adapters/`` folder and resolves
chains between types, through a canonical model where there is one.
"""

from exchange.adapters.base import Adapter, AdapterSpec, PythonAdapter
from exchange.adapters.chain import translate_chain
from exchange.adapters.kinds import AdapterKind, AdapterKinds, KindConfig
from exchange.adapters.problems import AdapterConfigError
from exchange.adapters.python import ENTRY_POINT_GROUP
from exchange.adapters.registry import AdapterRegistry
from exchange.adapters.xslt import XsltAdapter

__all__ = [
    "ENTRY_POINT_GROUP",
    "Adapter",
    "AdapterConfigError",
    "AdapterKind",
    "AdapterKinds",
    "AdapterRegistry",
    "AdapterSpec",
    "KindConfig",
    "PythonAdapter",
    "XsltAdapter",
    "translate_chain",
]
