"""The ``exchange`` command: run the hub, send messages, manage keys, schemas and routes."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from exchange import logs
from exchange.errors import ConfigError, ExchangeError
from exchange.settings import Settings, load_settings

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T], *, fast_loop: bool = False) -> T:
    """Run a coroutine; hub errors become one-line CLI errors (exit 1)."""
    factory = None
    if fast_loop:
        import uvloop

        factory = uvloop.new_event_loop
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(coro)
    except ExchangeError as exc:
        raise click.ClickException(str(exc)) from exc


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
def main(verbose: bool) -> None:
    """The data exchange hub. Settings come from EXCHANGE_* environment variables."""
    try:
        log_format = logs.chosen_format()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    logs.configure(logging.DEBUG if verbose else logging.INFO, log_format)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Also run the demo receivers and demo keys.")
@click.option("--demo-port", default=8001, show_default=True, type=int)
@click.option(
    "--processes",
    type=click.IntRange(1, 3),
    default=None,
    help="Processes to spread the hub over: 1 runs every stage in the serving process, "
    "2 puts router, delivery and indexer in a worker process, 3 the router in one and "
    "delivery with the indexer in another.  [default: 1 on one usable core, else 3]",
)
def serve(host: str, port: int, demo: bool, demo_port: int, processes: int | None) -> None:
    """Run the hub: REST and SOAP front door, router, delivery and indexer."""
    from exchange.processes import default_processes
    from exchange.server import serve as run_server

    settings = _settings()
    _run(
        run_server(
            settings,
            host=host,
            port=port,
            demo_port=demo_port if demo else None,
            processes=processes or default_processes(),
        ),
        fast_loop=True,
    )


@main.command()
@click.argument("names", nargs=-1, type=click.Choice(["router", "delivery", "indexer"]))
def worker(names: tuple[str, ...]) -> None:
    """Run stages without a front door (default: router, delivery and indexer)."""
    from exchange.hub import WORKERS
    from exchange.server import run_workers

    _run(run_workers(_settings(), names or WORKERS), fast_loop=True)


@main.command("demo-receivers")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
def demo_receivers(host: str, port: int) -> None:
    """Run only the demo receivers (stand-ins for departments), e.g. for benchmarks."""
    from exchange.demo import start_demo_receivers

    async def run() -> None:
        runner = await start_demo_receivers(host, port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        click.echo(f"demo receivers on http://{host}:{port}/demo-receivers")
        await stop.wait()
        await runner.cleanup()

    _run(run())


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--sender", default=None, help="Your sender code (checked against the key's; optional)."
)
@click.option("--key", required=True, envvar="EXCHANGE_KEY", help="Your key (or EXCHANGE_KEY).")
@click.option("--url", default="http://127.0.0.1:8000", show_default=True)
@click.option("--message-id", default=None, help="Your id for the message (for idempotency).")
@click.option("--type", "message_type", default=None, help="Message type, if not the root's.")
def send(
    file: Path,
    sender: str | None,
    key: str,
    url: str,
    message_id: str | None,
    message_type: str | None,
) -> None:
    """Post FILE to a running hub and print its answer (exit 1 when refused)."""
    import httpx

    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/xml"}
    if sender:
        headers["X-Exchange-Sender"] = sender
    if message_id:
        headers["X-Exchange-Message-Id"] = message_id
    if message_type:
        headers["X-Exchange-Message-Type"] = message_type
    try:
        response = httpx.post(
            url.rstrip("/") + "/v1/messages", content=file.read_bytes(), headers=headers
        )
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach the hub at {url}: {exc}") from exc
    try:
        answer = json.dumps(response.json(), ensure_ascii=False, indent=2)
    except ValueError:  # not JSON (a proxy's or server's plain answer): show it as it is
        answer = response.text
    click.echo(f"{response.status_code} {answer}")
    if response.status_code >= 400:
        sys.exit(1)


@main.group()
def keys() -> None:
    """Sender identities and their keys (only a key's hash is kept)."""


async def _with_store(action: Any) -> Any:
    from exchange.owner_only import private_folder
    from exchange.store import Store

    settings = _settings()
    private_folder(settings.resolved_data_dir)
    store = Store(settings.resolved_database_url)
    try:
        await store.start()
        return await action(store)
    finally:
        await store.close()


@keys.command("create")
@click.argument("sender")
@click.option("--operator", is_flag=True, help="An operator key: read any trace, replay.")
@click.option(
    "--viewer", is_flag=True, help="A viewer key: read any trace and the console, never act."
)
def keys_create(sender: str, operator: bool, viewer: bool) -> None:
    """Create SENDER if new and print a new key for it, once."""
    if operator and viewer:
        raise click.UsageError("a key is an operator's or a viewer's: give --operator or --viewer")
    role = "operator" if operator else "viewer" if viewer else "sender"
    key_id, key = _run(_with_store(lambda store: store.keys.create(sender, role=role)))
    click.echo(f"key id: {key_id}\nsender: {sender} ({role})\nkey:    {key}")
    click.echo("Keep the key now: the hub keeps only its hash and cannot show it again.", err=True)


@keys.command("list")
def keys_list() -> None:
    """List keys (ids, senders, roles, whether revoked); never the keys themselves."""
    rows = _run(_with_store(lambda store: store.keys.list()))
    for row in rows:
        revoked = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
        click.echo(f"{row.id}  {row.sender:<24} {row.role:<9} {revoked}")
    if not rows:
        click.echo("no keys yet: exchange keys create SENDER")


@keys.command("revoke")
@click.argument("key_id_or_sender")
def keys_revoke(key_id_or_sender: str) -> None:
    """Revoke one key by id, or every key of a sender."""
    count = _run(_with_store(lambda store: store.keys.revoke(key_id_or_sender)))
    if not count:
        raise click.ClickException(f"no active key or sender {key_id_or_sender!r}")
    click.echo(f"revoked {count} key(s); running hubs refuse them within 5 seconds")


@main.group()
def schemas() -> None:
    """Message types: their schemas, samples and business rules."""


@schemas.command("add")
@click.argument("xsd", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="Short name of the type (default from the schema).")
@click.option("--version", default="1.0", show_default=True)
@click.option(
    "--root",
    default=None,
    metavar="QNAME",
    help="The root element: name, prefix:name or {namespace}name; may be imported.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Register even if it breaks the type's compatibility policy (breaks are recorded).",
)
def schemas_add(xsd: Path, name: str | None, version: str, root: str | None, force: bool) -> None:
    """Register a new message type from XSD (copies it and what it includes or imports)."""
    from exchange.schemas import register_schema

    try:
        schema = register_schema(
            xsd, _settings().home / "schemas", name=name, version=version, root=root, force=force
        )
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"registered {schema.name} {schema.version} ({schema.qname}) in {schema.folder}")
    accepted = schema.manifest.accepted_breaks if schema.manifest is not None else None
    if accepted:
        count = len(accepted.get("breaks", []))
        click.echo(
            f"  with {count} accepted compatibility break(s) against {accepted.get('against')}, "
            "recorded in its manifest.yaml"
        )


@schemas.command("list")
def schemas_list() -> None:
    """List registered message types."""
    from exchange.schemas import SchemaRegistry

    try:
        registry = SchemaRegistry.load(_settings().home / "schemas")
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    for schema in registry:
        click.echo(f"{schema.name:<34} {schema.version:<6} {schema.qname}  {schema.title or ''}")


@schemas.command("validate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--type", "message_type", default=None, help="Message type, if not the root's.")
def schemas_validate(file: Path, message_type: str | None) -> None:
    """Validate FILE against its registered type: exit 0 valid, 1 invalid, 2 unknown/unreadable."""
    from exchange import xml
    from exchange.errors import RejectedMessage, UnknownMessageType
    from exchange.schemas import SchemaRegistry

    settings = _settings()
    try:
        tree = xml.parse(file.read_bytes(), max_bytes=settings.max_message_bytes)
        registry = SchemaRegistry.load(settings.home / "schemas")
        schema = registry.lookup(message_type or xml.qualified_name(tree.getroot()))
    except OSError as exc:
        click.echo(f"{file}: cannot read: {exc.strerror}", err=True)
        sys.exit(2)
    except (UnknownMessageType, ConfigError) as exc:
        click.echo(f"{file}: {exc}", err=True)
        sys.exit(2)
    except RejectedMessage as exc:
        click.echo(f"{file}: {exc.detail}", err=True)
        sys.exit(2)
    problems = schema.validate(tree)
    for p in problems:
        where = f"{file}:{p.line}" if p.line else str(file)
        click.echo(f"{where}: {p.path or ''}: {p.message} [{p.rule or 'xsd'}]")
    if problems:
        sys.exit(1)
    click.echo(f"{file}: valid {schema.name} {schema.version}")


@main.group()
def routes() -> None:
    """The routing table in routes/."""


@routes.command("lint")
def routes_lint() -> None:
    """Check routes/, endpoints and senders against schemas and adapters; explain each mistake."""
    from exchange.ruleset import lint_home

    try:
        problems = lint_home(_settings().home)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    for problem in problems:
        click.echo(str(problem))
    if any(problem.severity == "error" for problem in problems):
        sys.exit(1)
    if not problems:
        click.echo("routes/: no problems")


from exchange.commands.schemas_check import check_command as _schemas_check  # noqa: E402

schemas.add_command(_schemas_check)

from exchange.commands.catalog import catalog_command, subscriptions_group  # noqa: E402

main.add_command(catalog_command)
main.add_command(subscriptions_group)

from exchange.commands.adapters import adapters_group  # noqa: E402

main.add_command(adapters_group)

from exchange.commands.reload import reload_command  # noqa: E402

main.add_command(reload_command)
