"""SoapEgress against the egress conformance suite, with a real receiver on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from exchange.egress import Egress, SoapEgress
from exchange.routing.model import Endpoint, SoapEndpoint
from tests.conformance.egress_suite import HttpEgressSuite
from tests.harness import REPO
from tests.soap_fakes import wsdl_text

SAMPLE = next((REPO / "schemas" / "tax.TaxpayerRegistration").glob("*/samples/valid/*.xml"))


class TestSoapEgress(HttpEgressSuite):
    payload = SAMPLE.read_bytes()
    message_type = "tax.TaxpayerRegistration"
    routes: Path

    @pytest.fixture(autouse=True)
    def _routes(self, tmp_path: Path) -> None:
        self.routes = tmp_path / "routes"
        self.routes.mkdir()

    def make_egress(self) -> Egress:
        return SoapEgress(environ={})

    def accepted(self) -> web.Response:
        return web.Response(status=202)  # an empty 202 is SOAP's "accepted"

    def endpoint(self, url: str, **fields: str) -> Endpoint:
        (self.routes / "receiver.wsdl").write_text(wsdl_text(url), encoding="utf-8")
        data = {
            "name": "receiver",
            "kind": "soap",
            "wsdl": "receiver.wsdl",
            "service": "TaxService",
            "port": "TaxPort",
            "operation": "Register",
            "format": self.message_type,
            "timeout": 5,
            **fields,
        }
        return SoapEndpoint.model_validate(data, context={"routes_dir": self.routes})

    def misconfigured(self) -> Endpoint:
        # Credentials from a variable the hub's environment does not have.
        return self.endpoint(
            self.receiver.url, username="hub", password="${CONFORMANCE_UNSET_PASSWORD}"
        )
