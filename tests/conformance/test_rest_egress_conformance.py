"""RestEgress against the egress conformance suite, with a real receiver on 127.0.0.1."""

from __future__ import annotations

from exchange.egress import Egress, RestEgress
from exchange.routing.model import Endpoint, RestEndpoint
from tests.conformance.egress_suite import HttpEgressSuite


class TestRestEgress(HttpEgressSuite):
    def make_egress(self) -> Egress:
        return RestEgress(environ={})

    def endpoint(self, url: str) -> Endpoint:
        return RestEndpoint(name="receiver", format="a.Doc", url=url, timeout=5)

    def misconfigured(self) -> Endpoint:
        # A header naming a variable the hub's environment does not have.
        return RestEndpoint(
            name="receiver",
            format="a.Doc",
            url=self.receiver.url,
            headers={"Authorization": "Bearer ${CONFORMANCE_UNSET_TOKEN}"},
        )
