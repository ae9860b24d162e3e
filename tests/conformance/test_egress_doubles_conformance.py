"""The shipped egress test doubles pass the same conformance suite as the real egresses."""

from __future__ import annotations

from exchange.egress import Egress
from exchange.egress.testing import MemoryEgress, ScriptedEgress, receipt, rejected, unavailable
from exchange.routing.model import Endpoint, RestEndpoint
from tests.conformance.egress_suite import RETRY_AFTER, EgressSuite, Situation

ENDPOINT = RestEndpoint(name="receiver", format="a.Doc", url="http://127.0.0.1:9/inbox")


class TestScriptedEgress(EgressSuite):
    checks_configuration = False

    def make_egress(self) -> Egress:
        self.egress = ScriptedEgress("rest")
        return self.egress

    async def arrange(self, situation: Situation) -> Endpoint:
        self.egress.script.append(
            {
                "accepts": receipt(200),
                "busy": unavailable(retry_after=RETRY_AFTER),
                "refuses connections": unavailable(status=None),
                "rejects": rejected(400),
            }[situation]
        )
        return ENDPOINT

    def delivered(self) -> int:
        return len(self.egress.sent)


class TestMemoryEgress(TestScriptedEgress):
    """MemoryEgress accepts everything, so only the situations it can be in are run."""

    def make_egress(self) -> Egress:
        self.egress = MemoryEgress("rest")  # type: ignore[assignment]
        return self.egress

    async def arrange(self, situation: Situation) -> Endpoint:
        return ENDPOINT

    test_503_with_retry_after_is_retriable_with_the_delay = None  # type: ignore[assignment]
    test_refused_connection_is_retriable = None  # type: ignore[assignment]
    test_4xx_is_rejected_not_retriable = None  # type: ignore[assignment]
