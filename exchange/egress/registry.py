"""Which egress serves which endpoint kind: built-ins plus plug-ins from entry points.

One shared instance per kind, started once by ``start()`` and closed by ``close()``: the
instance holds the connection pool, so every endpoint of the kind shares it.  A new kind
plugs in by ``register("ftp", FtpEgress)`` or, from another package,
an entry point in the ``exchange.egress`` group naming its class.  Registries are plain
objects, so each test builds its own.  Built in: ``rest`` and ``soap``.

Each egress class declares the endpoint model of its kind (``endpoint_model``), which is
how ``routes/endpoints.yaml`` entries of that kind are parsed and linted (see
``exchange.egress.kinds``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points

from exchange.egress.base import Egress
from exchange.egress.kinds import EGRESS_KINDS, ENTRY_POINT_GROUP, egress_kinds, endpoint_model
from exchange.egress.rest import RestEgress
from exchange.egress.soap import SoapEgress
from exchange.errors import ConfigError
from exchange.plugins import PluginError, PluginRegistry
from exchange.routing.model import Endpoint

__all__ = [
    "BUILTIN_KINDS",
    "EGRESS_KINDS",
    "ENTRY_POINT_GROUP",
    "EgressRegistry",
    "egress_kinds",
    "endpoint_model",
]

EgressFactory = Callable[[], Egress]

BUILTIN_KINDS: Mapping[str, EgressFactory] = {
    RestEgress.kind: RestEgress,
    SoapEgress.kind: SoapEgress,
}


class EgressRegistry:
    """Maps an endpoint's ``kind`` to the started egress that serves it."""

    def __init__(
        self,
        factories: Mapping[str, EgressFactory] | None = None,
        *,
        load_entry_points: bool = True,
    ) -> None:
        """``factories`` replaces the built-in kinds (tests pass their own);
        ``load_entry_points`` adds the kinds other installed packages declare."""
        self._factories: dict[str, EgressFactory] = dict(
            BUILTIN_KINDS if factories is None else factories
        )
        if load_entry_points:
            kinds = egress_kinds(entry_points(group=ENTRY_POINT_GROUP), builtins={})
            for kind in kinds.kinds():
                self._factories.setdefault(kind, _lazy(kinds, kind))
        self._instances: dict[str, Egress] = {}
        self._started = False

    @property
    def kinds(self) -> list[str]:
        return sorted(self._factories)

    def register(self, kind: str, factory: EgressFactory) -> None:
        """Add a kind; only before ``start()``, so every kind is started the same way."""
        if self._started:
            raise RuntimeError(f"register({kind!r}) after start(); register every kind first")
        if kind in self._factories:
            raise ConfigError(f"egress kind {kind!r} is registered twice; keep one of them")
        self._factories[kind] = factory

    async def start(self, kinds: Iterable[str] | None = None) -> None:
        """Create and start the egress of each kind (default: every registered kind)."""
        wanted = self.kinds if kinds is None else list(kinds)
        for kind in wanted:
            if kind in self._instances:
                continue
            factory = self._factories.get(kind)
            if factory is None:
                raise self._unknown(kind)
            egress = factory()
            if egress.kind != kind:
                raise ConfigError(
                    f"egress registered as {kind!r} says its kind is {egress.kind!r}; "
                    "register it under its own kind"
                )
            await egress.start()
            self._instances[kind] = egress
        self._started = True

    async def close(self) -> None:
        """Close every started egress, even if one of them fails to close."""
        instances, self._instances = self._instances, {}
        self._started = False
        errors: list[BaseException] = []
        for egress in instances.values():
            try:
                await egress.close()
            except Exception as exc:  # keep closing the others
                errors.append(exc)
        if errors:
            raise errors[0]

    def get(self, kind: str) -> Egress:
        """The started egress of ``kind``."""
        egress = self._instances.get(kind)
        if egress is not None:
            return egress
        if kind not in self._factories:
            raise self._unknown(kind)
        raise RuntimeError(
            f"egress kind {kind!r} is not started; await registry.start() before delivering"
        )

    def for_endpoint(self, endpoint: Endpoint) -> Egress:
        return self.get(endpoint.kind)

    def check(self, endpoint: Endpoint) -> None:
        """Raise ConfigError if no egress can serve ``endpoint`` as configured."""
        if endpoint.kind not in self._factories:
            raise self._unknown(endpoint.kind, endpoint.name)
        egress = self._instances.get(endpoint.kind)
        if egress is not None:
            egress.check(endpoint)

    def _unknown(self, kind: str, endpoint: str | None = None) -> ConfigError:
        close = difflib.get_close_matches(kind, self.kinds, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        whose = f"endpoint {endpoint!r}: " if endpoint else ""
        return ConfigError(
            f"{whose}unknown egress kind {kind!r}; {hint}known kinds: {', '.join(self.kinds)}"
        )


def _lazy(kinds: PluginRegistry[type[Egress]], kind: str) -> EgressFactory:
    """A factory that imports a plug-in's class only when its kind is started."""

    def build() -> Egress:
        try:
            cls = kinds.get(kind)
        except PluginError as exc:
            raise ConfigError(str(exc)) from exc
        return cls()

    return build
