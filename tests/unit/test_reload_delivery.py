"""Delivery follows a reloaded rule set: new endpoints get workers, removed ones finish."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from exchange.backbone import EmbeddedBackbone, Record
from exchange.backbone.topics import delivery_topic
from exchange.egress import EgressRegistry
from exchange.egress.base import Egress, Outbound, Receipt
from exchange.envelope import Envelope
from exchange.pipeline.delivery import Delivery
from exchange.records import headers as h
from exchange.ruleset import RuleSet
from tests.harness import make_home

ENDPOINT = """
  - name: {name}
    url: "http://127.0.0.1:9/{name}"
    format: tax.TaxpayerRegistration
    retry: {{attempts: 2, initial_backoff: 0.05, jitter: 0}}"""


def routes(*names: str) -> str:
    return "endpoints:" + "".join(ENDPOINT.format(name=name) for name in names) + "\n"


class Recording(Egress):
    kind: ClassVar[str] = "rest"
    sent: ClassVar[list[Outbound]] = []

    async def send(self, outbound: Outbound) -> Receipt:
        Recording.sent.append(outbound)
        return Receipt(status=200, detail="ok", elapsed=0.001)


@dataclass
class Holder:
    rules: RuleSet


@pytest.fixture
async def backbone(tmp_path: Path) -> AsyncIterator[EmbeddedBackbone]:
    Recording.sent = []
    backbone = EmbeddedBackbone(tmp_path / "backbone.db")
    await backbone.start()
    yield backbone
    await backbone.close()


def to(endpoint: str) -> Record:
    headers = {
        **Envelope.new(sender="samr-reg", message_type="t").to_headers(),
        h.ENDPOINT: endpoint,
    }
    return Record(delivery_topic(endpoint), b"<doc/>", headers=headers)


async def sent_to(endpoint: str, count: int) -> None:
    for _ in range(200):
        if sum(1 for o in Recording.sent if o.endpoint.name == endpoint) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{endpoint} was not sent {count} record(s)")


async def test_delivery_follows_added_and_removed_endpoints(
    backbone: EmbeddedBackbone, tmp_path: Path
) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = RuleSet.load(make_home(tmp_path / "one", routes("tax-bureau")))
    two = RuleSet.load(make_home(tmp_path / "two", routes("tax-bureau", "archive")))
    assert one.version != two.version
    holder = Holder(one)
    egress = EgressRegistry({"rest": Recording}, load_entry_points=False)
    await egress.start()
    stop = asyncio.Event()
    running = asyncio.create_task(Delivery(backbone, egress, lambda: holder.rules, 4).run(stop))
    try:
        # Routed to a new endpoint before any worker of it exists: kept, then delivered.
        await backbone.publish([to("archive")])
        await asyncio.sleep(0.5)
        assert not Recording.sent
        holder.rules = two
        await sent_to("archive", 1)
        # Removed again: what is already routed there still goes, as last configured.
        holder.rules = one
        await asyncio.sleep(0.5)
        await backbone.publish([to("archive"), to("tax-bureau")])
        await sent_to("archive", 2)
        await sent_to("tax-bureau", 1)
        archived = [o for o in Recording.sent if o.endpoint.name == "archive"]
        assert archived[-1].endpoint == two.routing.endpoints["archive"]
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)
        await egress.close()
