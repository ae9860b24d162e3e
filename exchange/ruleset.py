"""What the hub knows from its home folder: schemas, adapters and the routing table."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from exchange.adapters import AdapterRegistry
from exchange.digests import files_digest
from exchange.errors import ConfigError
from exchange.routing import LintProblem, RoutingTable, lint
from exchange.schemas import MessageSchema, SchemaRegistry


@dataclass(frozen=True)
class RuleSet:
    home: Path
    schemas: SchemaRegistry
    adapters: AdapterRegistry
    routing: RoutingTable
    # Which files this set was loaded from (``rules_version``): what /healthz shows and
    # each message's trace records, so an operator can tell which set routed it.
    version: str = field(default="")

    @classmethod
    def load(cls, home: Path) -> RuleSet:
        """Load and compile everything; raises ConfigError naming each file at fault.

        Every schema is compiled here, so a broken one stops a start or is refused by a
        reload instead of failing the first message of its type.
        """
        return cls._load(home, linted=False)

    @classmethod
    def load_linted(cls, home: Path) -> RuleSet:
        """:meth:`load`, refused (ConfigError, one line per error) when ``routes/`` has lint
        errors: the lint names every problem where loading stops at the first file."""
        return cls._load(home, linted=True)

    @classmethod
    def _load(cls, home: Path, *, linted: bool) -> RuleSet:
        # Fingerprint first: files edited while loading then give a version that differs
        # from the next look, and the watcher loads again.
        version = rules_version(home)
        schemas = SchemaRegistry.load(home / "schemas")
        schemas.compile_all()
        adapters = AdapterRegistry.load(home / "adapters")
        if linted:
            errors = [str(p) for p in _lint(home, schemas, adapters) if p.severity == "error"]
            if errors:
                raise ConfigError("\n".join(errors))
        return cls(
            home=home,
            schemas=schemas,
            adapters=adapters,
            routing=RoutingTable.load(home / "routes"),
            version=version,
        )

    @staticmethod
    def type_names(schema: MessageSchema) -> frozenset[str]:
        """Every name a route or permission may use for this message type."""
        return _type_names(schema.name, schema.qname)


RULE_FOLDERS = ("schemas", "adapters", "routes")
VERSION_LENGTH = 12


def rule_files(home: Path) -> list[Path]:
    """The files a rule set is made of, sorted: hidden ones, caches and adapter tests left out.

    Adapters' ``tests/`` folders hold golden samples, not rules: editing them must not
    look like a new rule set.
    """
    found: list[Path] = []
    for folder in RULE_FOLDERS:
        root = home / folder
        if not root.is_dir():
            continue
        for path in root.rglob("*"):
            parts = path.relative_to(root).parts
            if any(part.startswith(".") or part == "__pycache__" for part in parts):
                continue
            if folder == "adapters" and "tests" in parts[:-1]:
                continue
            if path.is_file():
                found.append(path)
    return sorted(found, key=lambda p: p.relative_to(home).as_posix())


def rules_version(home: Path) -> str:
    """12 hex characters of sha256 over every rule file's relative path and bytes."""
    return files_digest(home, rule_files(home))[:VERSION_LENGTH]


def lint_home(home: Path) -> list[LintProblem]:
    """Every problem in routes/, checked against the schemas and adapters beside it.

    Schemas must compile and adapters load (their errors raise ConfigError); the routing
    table need not: reporting what stops it from loading is the point.
    """
    schemas = SchemaRegistry.load(home / "schemas")
    schemas.compile_all()
    return _lint(home, schemas, AdapterRegistry.load(home / "adapters"))


def _lint(home: Path, schemas: SchemaRegistry, adapters: AdapterRegistry) -> list[LintProblem]:
    versions: dict[str, set[str]] = {}
    for schema in schemas:
        for name in (schema.name, schema.qname):
            versions.setdefault(name, set()).add(schema.version)
    return lint(
        home / "routes",
        schema_names=set(versions),
        schema_versions=versions,
        adapter_names={a.spec.name for a in adapters},
        resolve_chain=adapters.chain,
    )


@lru_cache(maxsize=1024)
def _type_names(name: str, qname: str) -> frozenset[str]:
    # One frozenset per type: the routing table caches its answers by this set.
    return frozenset((name, qname))
