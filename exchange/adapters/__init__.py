"""Adapters translate a document of one message type into another.

Kinds: sandboxed XSLT stylesheets and Python classes (from an adapter folder
or, through the entry point group ``exchange.adapters``, from another
package). The registry loads them from a hub home's ``adapters/`` folder and
resolves chains between types, through a canonical model where there is one.
"""

from exchange.adapters.base import Adapter, AdapterSpec, PythonAdapter
from exchange.adapters.chain import translate_chain
from exchange.adapters.problems import AdapterConfigError
from exchange.adapters.python import ENTRY_POINT_GROUP
from exchange.adapters.registry import AdapterRegistry
from exchange.adapters.xslt import XsltAdapter

__all__ = [
    "ENTRY_POINT_GROUP",
    "Adapter",
    "AdapterConfigError",
    "AdapterRegistry",
    "AdapterSpec",
    "PythonAdapter",
    "XsltAdapter",
    "translate_chain",
]
