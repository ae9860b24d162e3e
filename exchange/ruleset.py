"""What the hub knows from its home folder: schemas, adapters and the routing table."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from exchange.adapters import AdapterRegistry
from exchange.routing import LintProblem, RoutingTable, lint
from exchange.schemas import MessageSchema, SchemaRegistry


@dataclass(frozen=True)
class RuleSet:
    home: Path
    schemas: SchemaRegistry
    adapters: AdapterRegistry
    routing: RoutingTable

    @classmethod
    def load(cls, home: Path) -> RuleSet:
        """Load and compile everything; raises ConfigError naming each file at fault."""
        return cls(
            home=home,
            schemas=SchemaRegistry.load(home / "schemas"),
            adapters=AdapterRegistry.load(home / "adapters"),
            routing=RoutingTable.load(home / "routes"),
        )

    @staticmethod
    def type_names(schema: MessageSchema) -> frozenset[str]:
        """Every name a route or permission may use for this message type."""
        return _type_names(schema.name, schema.qname)


def lint_home(home: Path) -> list[LintProblem]:
    """Every problem in routes/, checked against the schemas and adapters beside it.

    Schemas and adapters must load (their errors raise ConfigError); the routing
    table need not: reporting what stops it from loading is the point.
    """
    schemas = SchemaRegistry.load(home / "schemas")
    adapters = AdapterRegistry.load(home / "adapters")
    return lint(
        home / "routes",
        schema_names={s.name for s in schemas} | {s.qname for s in schemas},
        adapter_names={a.spec.name for a in adapters},
        resolve_chain=adapters.chain,
    )


@lru_cache(maxsize=1024)
def _type_names(name: str, qname: str) -> frozenset[str]:
    # One frozenset per type: the routing table caches its answers by this set.
    return frozenset((name, qname))
