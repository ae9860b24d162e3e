"""Versions side by side: routes that name the schema versions they take, and their lint."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from exchange.errors import ConfigError
from exchange.routing import RoutingTable, lint

NS = "urn:cn:gov:samr:enterprise-registration:1"
TYPE = "samr.EnterpriseRegistration"
NAMES = frozenset({TYPE, f"{{{NS}}}EnterpriseRegistration"})
DOCUMENT = etree.ElementTree(etree.fromstring(f'<EnterpriseRegistration xmlns="{NS}"/>'))

ROUTES = f"""
endpoints:
  - {{name: old-registry, url: "http://127.0.0.1:9/old", format: {TYPE}}}
  - {{name: new-registry, url: "http://127.0.0.1:9/new", format: {TYPE}}}
  - {{name: archive, url: "http://127.0.0.1:9/archive", format: {TYPE}}}
routes:
  - name: v1-to-the-old-registry
    match: {{message_type: {TYPE}, versions: ["1.0"]}}
    destinations: [{{endpoint: old-registry}}]
  - name: v2-to-the-new-registry
    match: {{message_type: {TYPE}, versions: ["2", "2.1"]}}
    destinations: [{{endpoint: new-registry}}]
  - name: every-version-to-the-archive
    match: {{message_type: {TYPE}}}
    destinations: [{{endpoint: archive}}]
senders:
  - {{code: samr-reg, may_send: [{TYPE}]}}
"""


def routes_dir(tmp_path: Path, text: str = ROUTES) -> Path:
    folder = tmp_path / "routes"
    folder.mkdir()
    (folder / "routes.yaml").write_text(text, encoding="utf-8")
    return folder


def endpoints(table: RoutingTable, version: str | None) -> list[str]:
    found = table.destinations_for(
        sender="samr-reg", type_names=NAMES, document=DOCUMENT, version=version
    )
    return [d.endpoint.name for d in found]


def test_v1_senders_reach_the_old_receiver_while_v2_goes_to_the_new(tmp_path: Path) -> None:
    table = RoutingTable.load(routes_dir(tmp_path))

    # Asked in turn, so that each answer comes from its own cached plan.
    assert endpoints(table, "1.0") == ["old-registry", "archive"]
    assert endpoints(table, "2.0") == ["new-registry", "archive"]
    assert endpoints(table, "1.0") == ["old-registry", "archive"]
    assert endpoints(table, "2.1") == ["new-registry", "archive"]
    assert endpoints(table, "3.0") == ["archive"]


def test_versions_compare_numerically(tmp_path: Path) -> None:
    table = RoutingTable.load(routes_dir(tmp_path))

    assert endpoints(table, "1") == ["old-registry", "archive"]  # "1" is "1.0"
    assert endpoints(table, "2.0.0") == ["new-registry", "archive"]  # "2.0.0" is "2"


def test_a_caller_that_does_not_say_the_version_gets_every_route(tmp_path: Path) -> None:
    table = RoutingTable.load(routes_dir(tmp_path))

    assert endpoints(table, None) == ["old-registry", "new-registry", "archive"]


def test_a_version_that_is_not_dotted_numbers_is_refused(tmp_path: Path) -> None:
    folder = routes_dir(tmp_path, ROUTES.replace('versions: ["1.0"]', 'versions: ["v1"]'))

    with pytest.raises(ConfigError, match=r"'v1' is not a dotted version such as \"1.0\""):
        RoutingTable.load(folder)


def test_lint_names_a_version_that_is_not_registered(tmp_path: Path) -> None:
    folder = routes_dir(tmp_path)

    problems = lint(
        folder,
        schema_names=NAMES,
        schema_versions={TYPE: ["1.0", "2.0"]},
        wsdl=False,
    )

    messages = [p.message for p in problems if p.severity == "error"]
    assert messages == [
        f"route 'v2-to-the-new-registry': {TYPE} has no version '2.1' (registered: 1.0, 2.0) "
        "— register it or fix the version"
    ]
    (problem,) = [p for p in problems if p.severity == "error"]
    assert problem.line == 11  # the match line of that route in routes.yaml


def test_lint_without_versions_does_not_check_them(tmp_path: Path) -> None:
    problems = lint(routes_dir(tmp_path), schema_names=NAMES, wsdl=False)

    assert [p for p in problems if p.severity == "error"] == []
