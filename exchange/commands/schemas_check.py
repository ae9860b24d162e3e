"""``exchange schemas check OLD NEW``: is NEW a compatible next version of OLD?

OLD and NEW are each a registered ``TYPE@VERSION`` (read from the home's ``schemas/``; ``TYPE``
alone is its newest version), a schema folder (with its ``manifest.yaml``) or a bare ``.xsd``
file. Exit status: 0 compatible, 1 not, 2 when an input cannot be used (nothing compared).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from exchange.schemas.manifest import Manifest

#: ``exchange.schemas.manifest.COMPATIBILITY_MODES``, spelt out so that loading the CLI does not
#: import the schema package (half a second on every ``exchange`` command); a test keeps them equal.
MODES = ("BACKWARD", "FORWARD", "FULL", "NONE")


@click.command("check")
@click.argument("old")
@click.argument("new")
@click.option(
    "--mode",
    type=click.Choice(MODES, case_sensitive=False),
    default=None,
    help="BACKWARD, FORWARD, FULL or NONE (default: the type's policy, else BACKWARD).",
)
@click.option(
    "--root",
    default=None,
    help="Root element of a bare .xsd that declares several (default: the other side's root).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check_command(old: str, new: str, mode: str | None, root: str | None, as_json: bool) -> None:
    """Compare OLD with NEW (TYPE[@VERSION], schema folder or .xsd): exit 0 compatible, 1 not."""
    from exchange.cli import _settings
    from exchange.errors import ConfigError
    from exchange.schemas.compat import check, policy_of
    from exchange.schemas.message import MessageSchema

    schemas_dir = _settings().home / "schemas"
    try:
        if root is None and Path(old).is_file() and not Path(new).is_file():
            # A bare OLD .xsd takes its root from NEW's manifest.
            new_manifest = _manifest(new, schemas_dir, root=None)
            old_manifest = _manifest(old, schemas_dir, root=new_manifest.root)
        else:
            old_manifest = _manifest(old, schemas_dir, root=root)
            new_manifest = _manifest(new, schemas_dir, root=root or old_manifest.root)
        old_schema = MessageSchema.from_manifest(old_manifest)
        new_schema = MessageSchema.from_manifest(new_manifest)
        report = check(old_schema, new_schema, mode or policy_of(new_schema, old_schema))
    except ConfigError as exc:
        click.echo(f"schemas check: {exc}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(report.render())
        if report.mode != "NONE":
            click.echo(f"  ({report.samples_checked} sample(s) re-validated)")
    sys.exit(0 if report.compatible else 1)


def _manifest(argument: str, schemas_dir: Path, *, root: str | None) -> Manifest:
    """What ``argument`` names, as a manifest; ConfigError saying what was expected if nothing."""
    from exchange.errors import ConfigError
    from exchange.schemas.manifest import MANIFEST_FILE, is_version, read_manifest, version_key

    path = Path(argument)
    if path.is_dir():
        if not (path / MANIFEST_FILE).is_file():
            raise ConfigError(
                f"{path} has no {MANIFEST_FILE}; give a schema folder, an .xsd file or TYPE@VERSION"
            )
        return read_manifest(path)
    if path.is_file():
        return _bare_xsd(path, root)
    name, _, version = argument.rpartition("@") if "@" in argument else (argument, "", "")
    known = sorted(
        (p.name for p in (schemas_dir / name).glob("*") if is_version(p.name)), key=version_key
    )
    if not known:
        raise ConfigError(
            f"{argument}: not a file, a folder or a registered TYPE[@VERSION] in {schemas_dir} "
            "(e.g. samr.EnterpriseRegistration@1.0)"
        )
    version = version or known[-1]  # TYPE alone: its newest version
    folder = schemas_dir / name / version
    if not is_version(version) or not (folder / MANIFEST_FILE).is_file():
        raise ConfigError(
            f"{argument}: no schema {name} version {version!r} in {schemas_dir}; "
            f"registered versions: {', '.join(known)}"
        )
    return read_manifest(folder)


def _bare_xsd(xsd: Path, root: str | None) -> Manifest:
    """A manifest for an .xsd that has none: its root is ``root`` (a local name) when it
    declares that element, else its only global element."""
    from exchange.errors import ConfigError
    from exchange.schemas.manifest import Manifest
    from exchange.schemas.sources import global_elements

    declared = global_elements(xsd)
    if not declared:
        raise ConfigError(f"{xsd}: declares no global element; a message schema needs one")
    chosen = next((q for q in declared if q.split("}", 1)[-1] == root), None)
    if chosen is None and len(declared) == 1:
        chosen = declared[0]
    if chosen is None:
        names = [q.split("}", 1)[-1] for q in declared]
        listing = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        raise ConfigError(
            f"{xsd}: declares several global elements ({listing}); say which is the message "
            f"root with --root, e.g. --root {names[0]}"
        )
    namespace, _, root = chosen[1:].partition("}") if chosen.startswith("{") else ("", "", chosen)
    return Manifest(
        folder=xsd.parent,
        name=xsd.stem,
        version=xsd.name,
        namespace=namespace,
        root=root,
        xsd=xsd.name,
    )
