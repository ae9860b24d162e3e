"""A message the store has not indexed yet: answered from the front door's memory, in the
store's shape, only to its sender (or an operator), and only for a while."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from exchange.hub import Hub
from exchange.ingress.rest import create_app
from exchange.pipeline.intake import Submission
from exchange.settings import Settings
from tests.harness import SAMR_SAMPLES, make_home

SAMR = "samr.EnterpriseRegistration"
ROUTES = f"""endpoints:
  - name: tax-bureau
    url: http://127.0.0.1:9/never-called
    format: tax.TaxpayerRegistration
routes:
  - name: to-tax
    match: {{message_type: {SAMR}, senders: [samr-reg]}}
    destinations:
      - endpoint: tax-bureau
senders:
  - code: samr-reg
    may_send: [{SAMR}]
  - code: tax-system
    may_send: [tax.TaxpayerRegistration]
"""


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    settings = Settings(home=make_home(tmp_path, ROUTES), data_dir=tmp_path / "var")
    hub = Hub(settings)
    await hub.start(workers=())  # no indexer: the store never learns of the message
    try:
        yield hub
    finally:
        await hub.stop()


async def _accept(hub: Hub, key: str) -> str:
    body = next((SAMR_SAMPLES / "valid").glob("*.xml")).read_bytes()
    answer = await hub.intake.submit(Submission(body=body, key=key, message_id="m-1"))
    return answer.id


async def test_an_unindexed_message_has_the_store_s_shape_for_its_sender_only(hub: Hub) -> None:
    _, sender_key = await hub.store.keys.create("samr-reg")
    _, other_key = await hub.store.keys.create("tax-system")
    _, operator_key = await hub.store.keys.create("ops", role="operator")
    hub_id = await _accept(hub, sender_key)
    transport = httpx.ASGITransport(app=create_app(hub))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:

        async def get(key: str) -> httpx.Response:
            return await http.get(
                f"/v1/messages/{hub_id}", headers={"Authorization": f"Bearer {key}"}
            )

        mine = await get(sender_key)
        assert mine.status_code == 200, mine.text
        found = mine.json()
        assert found["status"] == "accepted" and found["trace"] == []
        assert found["sender"] == "samr-reg" and found["message_type"] == SAMR
        assert found["schema_version"] == "1.0" and found["size_bytes"] > 0
        assert set(found) >= {"received_at", "updated_at", "last_error", "deliveries"}
        assert (await get(other_key)).status_code == 403
        assert (await get(operator_key)).status_code == 200


async def test_the_front_door_forgets_it_after_a_while(hub: Hub) -> None:
    _, key = await hub.store.keys.create("samr-reg")
    hub_id = await _accept(hub, key)
    assert await hub.intake.message(hub_id) is not None
    hub.intake.recent_seconds = 0.0  # as if that time had passed
    assert await hub.intake.message(hub_id) is None


def test_it_forgets_within_half_the_store_s_retention(tmp_path: Path) -> None:
    home = make_home(tmp_path, ROUTES)
    short = Hub(Settings(home=home, data_dir=tmp_path / "a", store_retention_ms=60_000))
    assert short.intake.recent_seconds == 30.0
    kept = Hub(Settings(home=home, data_dir=tmp_path / "b", store_retention_ms=-1))
    assert kept.intake.recent_seconds == kept.intake.RECENT_SECONDS
