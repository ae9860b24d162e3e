"""The router's decisions for one inbound record: deliveries, dead letters, events."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from exchange.backbone.base import ConsumedRecord, Record
from exchange.backbone.topics import DEAD_LETTERS, EVENTS, INBOUND, delivery_topic
from exchange.envelope import Envelope
from exchange.pipeline.router import Router
from exchange.records.headers import DEAD_LETTER_REASON, ONLY_ENDPOINT
from exchange.ruleset import RuleSet
from tests.harness import SAMR_SAMPLES, make_home

TAX_NS = "urn:cn:gov:chinatax:taxpayer-registration:1"
BROKEN_XSLT = f"""<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:template match="/"><TaxpayerRegistration xmlns="{TAX_NS}"/></xsl:template>
</xsl:stylesheet>"""
ROUTES = """endpoints:
  - {name: tax-bureau, url: "http://127.0.0.1:9/tax", format: tax.TaxpayerRegistration}
  - {name: legal-entity-registry, url: "http://127.0.0.1:9/reg", format: canonical.LegalEntity}
routes:
  - name: fan-out
    match: {message_type: samr.EnterpriseRegistration}
    destinations:
      - {endpoint: tax-bureau, adapters: [samr-to-tax-broken]}
      - {endpoint: legal-entity-registry}
senders:
  - {code: samr-reg, may_send: [samr.EnterpriseRegistration]}
"""


@pytest.fixture
def router(tmp_path: Path) -> Router:
    home = make_home(tmp_path, ROUTES)
    broken = home / "adapters" / "samr-to-tax-broken"
    broken.mkdir()
    (broken / "broken.xsl").write_text(BROKEN_XSLT)
    (broken / "adapter.yaml").write_text(
        "name: samr-to-tax-broken\nversion: '1.0'\nkind: xslt\n"
        "source: samr.EnterpriseRegistration\ntarget: tax.TaxpayerRegistration\n"
        "stylesheet: broken.xsl\n"
    )
    rules = RuleSet.load(home)
    return Router(backbone=None, rules=lambda: rules)  # type: ignore[arg-type]


def inbound(payload: bytes, **extra: str) -> ConsumedRecord:
    envelope = Envelope.new(sender="samr-reg", message_type="samr.EnterpriseRegistration")
    return ConsumedRecord(
        topic=INBOUND,
        partition=0,
        offset=0,
        value=payload,
        key=None,
        headers={**envelope.to_headers(), **extra},
        timestamp=time.time(),
    )


def by_topic(records: list[Record], topic: str) -> list[Record]:
    return [r for r in records if r.topic == topic]


def test_invalid_adapter_output_is_dead_lettered_and_the_rest_delivered(router: Router) -> None:
    sample = next((SAMR_SAMPLES / "valid").glob("*.xml")).read_bytes()
    out = router.route(inbound(sample))
    assert [r.topic for r in out if r.topic.startswith("deliver.")] == [
        delivery_topic("legal-entity-registry")
    ]
    (dead,) = by_topic(out, DEAD_LETTERS)
    reason = dead.headers[DEAD_LETTER_REASON]
    assert "translation for tax-bureau failed" in reason
    assert "not valid tax.TaxpayerRegistration" in reason and "samr-to-tax-broken" in reason
    assert dead.headers[ONLY_ENDPOINT] == "tax-bureau"  # a replay goes to that destination only
    assert dead.value == sample  # the original, so a fixed adapter can run again
    kinds = [json.loads(r.value)["event"] for r in by_topic(out, EVENTS)]
    assert kinds == ["dead_lettered", "routed"]


def test_poison_message_is_dead_lettered_not_raised(router: Router) -> None:
    out = router.route(inbound(b"not xml at all"))
    (dead,) = by_topic(out, DEAD_LETTERS)
    assert dead.headers[DEAD_LETTER_REASON].startswith("cannot route:")
    assert not [r for r in out if r.topic.startswith("deliver.")]


def test_replayed_message_goes_only_to_its_endpoint(router: Router) -> None:
    sample = next((SAMR_SAMPLES / "valid").glob("*.xml")).read_bytes()
    out = router.route(inbound(sample, **{ONLY_ENDPOINT: "legal-entity-registry"}))
    assert [r.topic for r in out if r.topic.startswith("deliver.")] == [
        delivery_topic("legal-entity-registry")
    ]
    assert not by_topic(out, DEAD_LETTERS)


def test_a_bug_while_routing_dead_letters_the_message(
    router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_: ConsumedRecord) -> list[Record]:
        raise RuntimeError("boom")

    monkeypatch.setattr(router, "route", broken)
    (dead,) = by_topic(router._route_safely(inbound(b"<x/>")), DEAD_LETTERS)
    assert "internal error while routing" in dead.headers[DEAD_LETTER_REASON]
