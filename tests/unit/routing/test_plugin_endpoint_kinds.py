"""A plug-in egress brings its own endpoint model: routes/ files name its kind and are linted.

The plug-in is registered the way an installed package registers it, through an
entry point of the ``exchange.egress`` group (a stand-in object here, so nothing
is installed); the routes loader then parses ``kind: fax`` with the plug-in's
model and reports a misspelt field at its line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest

from exchange.egress import Egress, Outbound, Receipt
from exchange.egress import kinds as egress_kinds
from exchange.routing import RoutingTable, lint
from exchange.routing.model import Endpoint, RestEndpoint, SoapEndpoint, endpoint_class


class FaxEndpoint(Endpoint):
    kind: Literal["fax"]
    number: str


class FaxEgress(Egress):
    kind: ClassVar[str] = "fax"
    endpoint_model: ClassVar[type[Endpoint]] = FaxEndpoint

    async def send(self, outbound: Outbound) -> Receipt:
        return Receipt(status=None, detail="faxed", elapsed=0.0)


@dataclass
class StandInEntryPoint:
    name: str
    value: str
    target: Any

    def load(self) -> Any:
        return self.target


@pytest.fixture
def fax_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = StandInEntryPoint("fax", "fax_plugin:FaxEgress", FaxEgress)
    monkeypatch.setattr(egress_kinds, "EGRESS_KINDS", egress_kinds.egress_kinds([entry]))


ROUTES = """\
endpoints:
  - name: fax-office
    kind: fax
    format: canonical.LegalEntity
    number: "+86 10 1234"
routes:
  - name: to-fax
    match: {message_type: canonical.LegalEntity}
    destinations: [{endpoint: fax-office}]
"""


def write_routes(tmp_path: Path, text: str) -> Path:
    routes = tmp_path / "routes"
    routes.mkdir()
    (routes / "endpoints.yaml").write_text(text, encoding="utf-8")
    return routes


@pytest.mark.usefixtures("fax_installed")
def test_endpoint_of_a_plugin_kind_loads_with_its_model(tmp_path: Path) -> None:
    table = RoutingTable.load(write_routes(tmp_path, ROUTES))

    endpoint = table.endpoints["fax-office"]
    assert isinstance(endpoint, FaxEndpoint)
    assert endpoint.number == "+86 10 1234"
    assert Endpoint(name="f", kind="fax", format="a.B", number="1") == FaxEndpoint(
        name="f", kind="fax", format="a.B", number="1"
    )


@pytest.mark.usefixtures("fax_installed")
def test_misspelt_field_of_a_plugin_endpoint_is_reported_at_its_line(tmp_path: Path) -> None:
    routes = write_routes(tmp_path, ROUTES.replace('    number: "', '    numbr: "'))

    problems = [str(p) for p in lint(routes, wsdl=False)]

    assert any("endpoints.yaml:5" in p and "numbr" in p for p in problems), problems
    assert any("endpoints.yaml" in p and "number" in p for p in problems), problems


def test_without_the_plugin_the_kind_is_unknown_with_a_hint(tmp_path: Path) -> None:
    routes = write_routes(tmp_path, ROUTES.replace("kind: fax", "kind: sopa"))

    problems = [str(p) for p in lint(routes, wsdl=False)]

    assert any("'sopa' is not an endpoint kind (did you mean 'soap'?)" in p for p in problems)


def test_builtin_models_live_beside_their_egress_and_are_re_exported() -> None:
    from exchange.egress.rest import RestEgress
    from exchange.egress.soap import SoapEgress

    assert RestEgress.endpoint_model is RestEndpoint is endpoint_class("rest")
    assert SoapEgress.endpoint_model is SoapEndpoint is endpoint_class("soap")
    assert RestEndpoint.__module__ == "exchange.egress.rest_endpoint"
