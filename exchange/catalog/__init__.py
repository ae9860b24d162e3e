"""The catalogue of message types (信息资源目录): what exists, who publishes it, who receives it.

Derived from a rule set, never typed twice: owners, titles and descriptions come from the
schema manifests, publishers from ``senders.yaml``, subscribers from the routes and the
adapter chains they resolve to.  ``catalogue_of(rules)`` is the one entry point; the REST
routes (``exchange.catalog.api``) and ``exchange catalog`` read it.
"""

from exchange.catalog.derive import catalogue_of, derive
from exchange.catalog.model import (
    Catalogue,
    Publisher,
    Subscriber,
    TypeEntry,
    UnknownCatalogueType,
    VersionEntry,
)

__all__ = [
    "Catalogue",
    "Publisher",
    "Subscriber",
    "TypeEntry",
    "UnknownCatalogueType",
    "VersionEntry",
    "catalogue_of",
    "derive",
]
