"""``exchange reload``: ask a running hub to reload schemas/, adapters/ and routes/."""

from __future__ import annotations

import sys
from typing import Any

import click


@click.command("reload")
@click.option("--url", default="http://127.0.0.1:8000", show_default=True)
@click.option(
    "--key", required=True, envvar="EXCHANGE_KEY", help="An operator key (or EXCHANGE_KEY)."
)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the hub.")
def reload_command(url: str, key: str, timeout: float) -> None:
    """Reload the running hub's rules; print the outcome (exit 1 when refused)."""
    import httpx

    try:
        response = httpx.post(
            url.rstrip("/") + "/v1/admin/reload",
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach the hub at {url}: {exc}") from exc
    try:
        answer: dict[str, Any] = response.json()
    except ValueError:
        raise click.ClickException(
            f"the hub answered {response.status_code} without JSON: {response.text[:200]}"
        ) from None
    if response.status_code == 200:
        processes = answer.get("processes") or {}
        state = "now running" if answer.get("changed") else "unchanged, still running"
        click.echo(f"rules {state} {answer.get('version')} in {len(processes)} process(es)")
        return
    if response.status_code == 422:
        click.echo(f"refused: still running rules {answer.get('version')}", err=True)
        for line in answer.get("errors") or []:
            click.echo(f"  {line}", err=True)
    else:
        click.echo(f"{response.status_code} {answer.get('detail', answer)}", err=True)
    sys.exit(1)
