"""``exchange catalog`` (browse the message types of the home) and ``exchange subscriptions``
(request, list, approve and reject subscriptions on a running hub)."""

from __future__ import annotations

import json
import sys
import unicodedata
from typing import Any

import click

from exchange.errors import ConfigError


def _load_rules() -> Any:
    """The home's rule set, schemas read but not compiled (the catalogue needs manifests)."""
    from exchange.adapters import AdapterRegistry
    from exchange.cli import _settings
    from exchange.routing import RoutingTable
    from exchange.ruleset import RuleSet
    from exchange.schemas import SchemaRegistry

    home = _settings().home
    try:
        return RuleSet(
            home=home,
            schemas=SchemaRegistry.load(home / "schemas"),
            adapters=AdapterRegistry.load(home / "adapters"),
            routing=RoutingTable.load(home / "routes"),
        )
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("catalog")
@click.argument("message_type", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def catalog_command(message_type: str | None, as_json: bool) -> None:
    """List the message types of the home, or show one TYPE: versions, files, who sends and
    who receives it (through which adapters)."""
    from exchange.catalog import UnknownCatalogueType, derive

    catalogue = derive(_load_rules())
    if message_type is None:
        if as_json:
            click.echo(_json({"types": [entry.summary() for entry in catalogue]}))
            return
        _print_list(catalogue)
        return
    try:
        entry = catalogue.get(message_type)
    except UnknownCatalogueType as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(_json(entry.as_dict()))
        return
    _print_entry(entry)


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)


def _print_list(catalogue: Any) -> None:
    if not len(catalogue):
        click.echo("no message types: register one with `exchange schemas add XSD`")
        return
    rows = [
        (
            entry.name,
            ", ".join(v.version for v in entry.versions),
            entry.owner or "-",
            entry.title("zh") or "",
            ", ".join(p.code for p in entry.publishers) or "-",
            ", ".join(sorted({s.endpoint for s in entry.subscribers})) or "-",
        )
        for entry in catalogue
    ]
    header = ("TYPE", "VERSIONS", "OWNER", "TITLE", "PUBLISHERS", "SUBSCRIBERS")
    widths = [max(_width(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    for row in (header, *rows):
        cells = [cell + " " * (w - _width(cell)) for cell, w in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _print_entry(entry: Any) -> None:
    click.echo(f"{entry.name}  {entry.qname}")
    for language, text in entry.titles.items():
        click.echo(f"  title ({language}): {text}")
    for language, text in entry.descriptions.items():
        click.echo(f"  description ({language}): {text}")
    click.echo(f"  owner: {entry.owner or '-'}")
    click.echo("versions:")
    for version in entry.versions:
        click.echo(f"  {version.version} ({version.compatibility}) {version.folder}")
        for name in version.xsd_files:
            click.echo(f"    xsd     {name}")
        for name in version.samples_valid:
            click.echo(f"    valid   {name}")
        for name in version.samples_invalid:
            click.echo(f"    invalid {name}")
    click.echo("publishers:")
    for publisher in entry.publishers:
        how = " (may send any type)" if publisher.any_type else ""
        click.echo(f"  {publisher.code}{how}: {publisher.name or ''}".rstrip(": "))
    if not entry.publishers:
        click.echo("  none: no sender's may_send names this type")
    click.echo("subscribers:")
    for sub in entry.subscribers:
        chain = (
            " → ".join(sub.adapters) or "as is"
            if sub.adapters is not None
            else f"NO CHAIN ({sub.problem})"
        )
        click.echo(f"  {sub.endpoint} ({sub.kind}, {sub.format}) via route {sub.route}")
        if sub.title:
            click.echo(f"    {sub.title}")
        click.echo(f"    adapters: {chain}{'' if sub.adapters_explicit else ' (resolved)'}")
        for expression in sub.xpath:
            click.echo(f"    when: {expression}")
        if sub.senders is not None:
            click.echo(f"    from: {', '.join(sub.senders)}")
    if not entry.subscribers:
        click.echo("  none: no route delivers this type yet (POST /v1/subscriptions)")


# --- subscriptions: a client of a running hub, like `exchange send` ---------------------------

_url = click.option("--url", default="http://127.0.0.1:8000", show_default=True)
_key = click.option(
    "--key", required=True, envvar="EXCHANGE_KEY", help="Your key (or EXCHANGE_KEY)."
)


def _call(method: str, url: str, path: str, key: str, body: Any = None) -> Any:
    import httpx

    try:
        response = httpx.request(
            method,
            url.rstrip("/") + path,
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach the hub at {url}: {exc}") from exc
    try:
        answer = response.json()
    except ValueError:
        answer = response.text
    if response.status_code >= 400:
        if isinstance(answer, dict):
            click.echo(f"{response.status_code} {answer.get('title')}: {answer.get('detail')}")
            for error in answer.get("errors", [])[1:]:
                click.echo(f"  {error}")
        else:
            click.echo(f"{response.status_code} {answer}")
        sys.exit(1)
    return answer


@click.group("subscriptions")
def subscriptions_group() -> None:
    """Ask to receive a message type; operators approve or reject (talks to a running hub)."""


@subscriptions_group.command("list")
@_url
@_key
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def subscriptions_list(url: str, key: str, as_json: bool) -> None:
    """Your subscriptions (all of them with an operator or viewer key)."""
    answer = _call("GET", url, "/v1/subscriptions", key)
    if as_json:
        click.echo(_json(answer))
        return
    for row in answer["subscriptions"]:
        decided = f" by {row['decided_by']}" if row["decided_by"] else ""
        click.echo(
            f"{row['id']:>4}  {row['status']:<9} {row['subscriber']:<20} "
            f"{row['message_type']} → {row['format']}{decided}  {row['file'] or ''}".rstrip()
        )
    if not answer["subscriptions"]:
        click.echo("no subscriptions: exchange subscriptions request TYPE --endpoint-url URL")


@subscriptions_group.command("show")
@click.argument("subscription_id", type=int)
@_url
@_key
def subscriptions_show(subscription_id: int, url: str, key: str) -> None:
    """One subscription as JSON."""
    click.echo(_json(_call("GET", url, f"/v1/subscriptions/{subscription_id}", key)))


@subscriptions_group.command("request")
@click.argument("message_type")
@click.option("--format", "wanted", default=None, help="Type to receive (default: the same).")
@click.option("--xpath", multiple=True, help="Only messages where this holds (repeatable).")
@click.option("--ns", multiple=True, help="PREFIX=URI for the XPath (repeatable).")
@click.option("--endpoint", "endpoint", default=None, help="An existing endpoint's name.")
@click.option("--endpoint-url", default=None, help="URL of a new REST endpoint to deliver to.")
@click.option("--method", default="POST", type=click.Choice(["POST", "PUT"]), show_default=True)
@_url
@_key
def subscriptions_request(
    message_type: str,
    wanted: str | None,
    xpath: tuple[str, ...],
    ns: tuple[str, ...],
    endpoint: str | None,
    endpoint_url: str | None,
    method: str,
    url: str,
    key: str,
) -> None:
    """Ask to receive MESSAGE_TYPE at an endpoint (your key's sender is the subscriber)."""
    if (endpoint is None) == (endpoint_url is None):
        raise click.UsageError("give --endpoint NAME (existing) or --endpoint-url URL (new)")
    namespaces = {}
    for pair in ns:
        prefix, sep, uri = pair.partition("=")
        if not sep or not prefix:
            raise click.UsageError(f"--ns {pair!r}: write PREFIX=URI")
        namespaces[prefix] = uri
    body: dict[str, Any] = {
        "message_type": message_type,
        "endpoint": endpoint or {"kind": "rest", "url": endpoint_url, "method": method},
    }
    if wanted:
        body["format"] = wanted
    if xpath:
        body["xpath"] = list(xpath)
    if namespaces:
        body["namespaces"] = namespaces
    answer = _call("POST", url, "/v1/subscriptions", key, body)
    click.echo(f"subscription {answer['id']} {answer['status']}: {_json(answer)}")


@subscriptions_group.command("approve")
@click.argument("subscription_id", type=int)
@_url
@_key
def subscriptions_approve(subscription_id: int, url: str, key: str) -> None:
    """Approve: the hub writes routes/subscriptions/… and reloads (operator key)."""
    answer = _call("POST", url, f"/v1/subscriptions/{subscription_id}/approve", key)
    reload = answer.get("reload")
    applied = (
        f"rule set {reload['version']}" if reload else "not reloaded: restart the hub to apply"
    )
    click.echo(f"subscription {subscription_id} approved: {answer['file']} ({applied})")


@subscriptions_group.command("reject")
@click.argument("subscription_id", type=int)
@click.option("--reason", required=True, help="Why, for the department.")
@_url
@_key
def subscriptions_reject(subscription_id: int, reason: str, url: str, key: str) -> None:
    """Reject with a reason (operator key)."""
    _call("POST", url, f"/v1/subscriptions/{subscription_id}/reject", key, {"reason": reason})
    click.echo(f"subscription {subscription_id} rejected")
