"""Egress kinds by name, and the endpoint model each one declares.

``EGRESS_KINDS`` holds the built-in egress classes (``rest``, ``soap``) and those of the
entry point group ``exchange.egress``, imported on first use. ``endpoint_model(kind)`` is
how the routes loader parses and lints an endpoint of ``kind``: the ``endpoint_model``
its egress class declares. For the built-ins the model is read from its own light module
(``rest_endpoint``, ``soap_endpoint``) rather than through the egress class, so that
loading or linting routes does not import the HTTP client and zeep; a test keeps the two
the same (``tests/unit/routing/test_plugin_endpoint_kinds.py``).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from exchange.errors import PluginError
from exchange.plugins import PluginRegistry
from exchange.routing.model import Endpoint

if TYPE_CHECKING:
    from exchange.egress.base import Egress

ENTRY_POINT_GROUP = "exchange.egress"

BUILTIN_EGRESS: Mapping[str, str] = {
    "rest": "exchange.egress.rest:RestEgress",
    "soap": "exchange.egress.soap:SoapEgress",
}
_BUILTIN_MODELS: Mapping[str, tuple[str, str]] = {
    "rest": ("exchange.egress.rest_endpoint", "RestEndpoint"),
    "soap": ("exchange.egress.soap_endpoint", "SoapEndpoint"),
}


_models: dict[str, type[Endpoint]] = {}


def _is_egress(found: Any) -> bool:
    from exchange.egress.base import Egress

    model = getattr(found, "endpoint_model", None)
    return (
        isinstance(found, type)
        and issubclass(found, Egress)
        and isinstance(model, type)
        and issubclass(model, Endpoint)
        and model is not Endpoint
    )


def egress_kinds(
    found: Iterable[Any] | None = None,
    builtins: Mapping[str, type[Egress] | str] | None = None,
) -> PluginRegistry[type[Egress]]:
    """The egress classes by kind: ``builtins`` (default rest, soap) plus entry points.

    ``found`` are the entry points (default: the installed ``exchange.egress`` group).
    """
    return PluginRegistry(
        "egress",
        ENTRY_POINT_GROUP,
        BUILTIN_EGRESS if builtins is None else builtins,
        check=_is_egress,
        expected="an Egress class (a subclass of Egress declaring endpoint_model)",
        entry_points=found,
    )


# The process-wide registry the routes loader resolves endpoint kinds with.
EGRESS_KINDS = egress_kinds()


def endpoint_model(kind: object) -> type[Endpoint]:
    """The endpoint model of ``kind``; ValueError (for pydantic and the lint) otherwise."""
    registry = EGRESS_KINDS
    if isinstance(kind, str) and kind in _BUILTIN_MODELS:
        model = _models.get(kind)
        if model is None:
            module, name = _BUILTIN_MODELS[kind]
            model = _models[kind] = getattr(importlib.import_module(module), name)
        return model
    if not isinstance(kind, str) or kind not in registry:
        known = registry.kinds()
        close = difflib.get_close_matches(str(kind), known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"kind {kind!r} is not an endpoint kind{hint}; use one of: {', '.join(known)} "
            f"(plug-in kinds register in the entry point group '{ENTRY_POINT_GROUP}')"
        )
    try:
        return registry.get(kind).endpoint_model
    except PluginError as exc:
        raise ValueError(str(exc)) from exc
