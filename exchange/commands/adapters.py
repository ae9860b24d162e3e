"""``exchange adapters``: list, show, scaffold, test and run the adapters of a hub home."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from lxml import etree

from exchange.adapters import AdapterRegistry
from exchange.adapters.base import Adapter
from exchange.adapters.testkit import CaseResult, adapter_folder, golden_cases, run_adapter
from exchange.errors import ConfigError, ExchangeError
from exchange.schemas import SchemaRegistry
from exchange.settings import load_settings


def _home() -> Path:
    try:
        return load_settings().home
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _load(home: Path) -> tuple[AdapterRegistry, SchemaRegistry]:
    try:
        return AdapterRegistry.load(home / "adapters"), SchemaRegistry.load(home / "schemas")
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _get(registry: AdapterRegistry, name: str) -> Adapter:
    try:
        return registry.get(name)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _folder(registry: AdapterRegistry, name: str) -> Path | None:
    return adapter_folder(registry.origin(name))


@click.group("adapters")
def adapters_group() -> None:
    """Adapters: list, inspect, scaffold, test against golden cases, translate a file."""


@adapters_group.command("list")
def list_command() -> None:
    """Every adapter: name, kind, source → target, version, golden cases, title."""
    registry, _ = _load(_home())
    for adapter in registry:
        spec = adapter.spec
        folder = _folder(registry, spec.name)
        cases = len(golden_cases(folder)) if folder is not None else 0
        click.echo(
            f"{spec.name:<24} {spec.kind:<8} {spec.source} → {spec.target}  v{spec.version}  "
            f"{cases} test{'s' if cases != 1 else ''}  {spec.title or ''}".rstrip()
        )


@adapters_group.command("show")
@click.argument("name")
def show_command(name: str) -> None:
    """One adapter: its spec, where it is defined, options, golden cases, the routes using it."""
    home = _home()
    registry, _ = _load(home)
    spec = _get(registry, name).spec
    folder = _folder(registry, name)
    click.echo(f"{spec.name} v{spec.version} ({spec.kind})")
    if spec.title:
        click.echo(f"  title:   {spec.title}")
    click.echo(f"  from:    {spec.source}")
    click.echo(f"  to:      {spec.target}")
    click.echo(f"  defined: {registry.origin(name)}")
    if spec.time_limit is not None:
        click.echo(f"  time limit: {spec.time_limit} s")
    click.echo("  options: " + (", ".join(f"{k}={v}" for k, v in spec.options.items()) or "none"))
    cases = golden_cases(folder) if folder is not None else []
    click.echo(f"  golden cases ({len(cases)}): " + (", ".join(c.name for c in cases) or "none"))
    uses = _routes_using(home, registry, name)
    click.echo("  used by: " + ("; ".join(uses) if uses else "no route"))


def _routes_using(home: Path, registry: AdapterRegistry, name: str) -> list[str]:
    """``route → endpoint`` for each destination whose chain (named or resolved) has ``name``."""
    from exchange.routing import RoutingTable

    try:
        table = RoutingTable.load(home / "routes")
    except ConfigError:
        return ["(routes/ does not load; run exchange routes lint)"]
    uses: list[str] = []
    for route in table.routes:
        for destination in route.destinations:
            chain = destination.adapters
            endpoint = table.endpoints.get(destination.endpoint)
            if chain is None and endpoint is not None and route.match.message_type:
                try:
                    resolved = registry.chain(route.match.message_type, endpoint.format)
                except ConfigError:
                    continue
                chain = [a.spec.name for a in resolved]
            if chain and name in chain:
                uses.append(f"{route.name} → {destination.endpoint} ({' → '.join(chain)})")
    return uses


@adapters_group.command("new")
@click.argument("name")
@click.option("--from", "source", required=True, help="Source message type.")
@click.option("--to", "target", required=True, help="Target message type.")
@click.option("--kind", default="xslt", show_default=True, help="xslt, python or mapping.")
def new_command(name: str, source: str, target: str, kind: str) -> None:
    """Scaffold adapters/NAME: a working skeleton and one golden case from a source sample."""
    from exchange import xml
    from exchange.adapters.registry import AdapterRegistry as Registry
    from exchange.adapters.scaffold import new_adapter

    home = _home()
    _, schemas = _load(home)
    adapters_dir = home / "adapters"

    def translate(document: Path) -> etree._ElementTree:
        # Load the new folder the way the hub will, so the seeded case is what the hub does.
        adapter = Registry.load(adapters_dir, entry_points=False).get(name)
        from exchange.adapters import translate_chain
        from exchange.envelope import Envelope

        envelope = Envelope.new(sender="adapters-new", message_type=source, message_id="seed")
        return translate_chain([adapter], xml.parse(document.read_bytes()), envelope)

    try:
        skeleton = new_adapter(
            adapters_dir, schemas, name, source, target, kind, translate=translate
        )
    except ExchangeError as exc:
        raise click.ClickException(str(exc)) from exc
    for path in skeleton.files:
        click.echo(f"wrote {path}")
    if skeleton.seeded_case is None:
        click.echo(f"no valid sample of {source}: add a golden case to {skeleton.folder}/tests/")
    click.echo(f"next: edit it, then run: exchange adapters test {name}")


@adapters_group.command("test")
@click.argument("names", nargs=-1)
@click.option("-q", "--quiet", is_flag=True, help="Print failures and the summary only.")
def test_command(names: tuple[str, ...], quiet: bool) -> None:
    """Run golden cases and source samples of NAMES (all adapters when none); exit 1 on failure."""
    registry, schemas = _load(_home())
    chosen = [_get(registry, n) for n in names] if names else list(registry)
    results: list[CaseResult] = []
    for adapter in chosen:
        for result in run_adapter(adapter, schemas, _folder(registry, adapter.spec.name)):
            results.append(result)
            if not (quiet and result.passed):
                click.echo(result.describe())
    failed = sum(not r.passed for r in results)
    click.echo(
        f"{len(results) - failed} passed, {failed} failed "
        f"({len(chosen)} adapter{'s' if len(chosen) != 1 else ''})"
    )
    if failed:
        sys.exit(1)


@adapters_group.command("translate")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def translate_command(name: str, file: Path, output: Path | None) -> None:
    """Translate FILE with adapter NAME; the result to stdout (or -o), validation to stderr."""
    from exchange import xml
    from exchange.adapters import translate_chain
    from exchange.envelope import Envelope

    registry, schemas = _load(_home())
    adapter = _get(registry, name)
    try:
        document = xml.parse(file.read_bytes())
        envelope = Envelope.new(
            sender="adapters-translate", message_type=adapter.spec.source, message_id=file.stem
        )
        result = translate_chain([adapter], document, envelope)
    except ExchangeError as exc:
        raise click.ClickException(f"{file}: {exc}") from exc
    root = result.getroot()
    etree.indent(root, space="  ")
    data = etree.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"
    if output is None:
        click.echo(data.decode("utf-8"), nl=False)
    else:
        output.write_bytes(data)
    try:
        problems = schemas.lookup(adapter.spec.target).validate(result)
    except ExchangeError as exc:
        click.echo(f"cannot validate the output: {exc}", err=True)
        sys.exit(1)
    for p in problems:
        where = f"line {p.line}: " if p.line else ""
        click.echo(f"output is not a valid {adapter.spec.target}: {where}{p.message}", err=True)
    if problems:
        sys.exit(1)
