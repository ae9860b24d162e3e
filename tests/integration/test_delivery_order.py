"""Messages of one correlation id reach a receiver in the order they were sent, also when some
of them need a retry; different ids are delivered concurrently."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from tests.harness import SAMR_SAMPLES, FakeDepartment, HubProcess, make_home, wait_for
from tests.integration.conftest import routes_for

QUICK_RETRY = "{attempts: 3, initial_backoff: 0.05, max_backoff: 0.2}"
# Later messages of an id reach the hub before the retry of an earlier one falls due.
# The failures come in a row (the 2nd message of every id first): keep the breaker closed.
SLOWER_RETRY = (
    "{attempts: 3, initial_backoff: 1.0, multiplier: 1.0, max_backoff: 1.0, jitter: 0}\n"
    "    breaker: {failures: 1000}"
)
MESSAGES = 60
IDS = 6
ANSWER_SECONDS = 0.1  # each call to the receiver takes this long


class CountingDepartment(FakeDepartment):
    """Also counts how many calls it answers at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most_in_flight = 0

    async def _handle(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await super()._handle(request)
        finally:
            self.in_flight -= 1


@pytest.fixture
def department() -> Iterator[CountingDepartment]:
    department = CountingDepartment()
    department.start()
    yield department
    department.stop()


def _busy_on_first_try_of_every_third(request: web.Request, _n: int) -> web.Response | None:
    """503 to the first try of every third message of each id (its 2nd, 5th, 8th ...)."""
    number = int(request.headers["X-Exchange-Message-Id"].rsplit("-", 1)[1])
    if (number // IDS) % 3 == 1 and request.headers["X-Exchange-Attempt"] == "1":
        return web.Response(status=503, text="busy")
    return None


def test_each_correlation_id_arrives_in_order_through_retries(
    department: CountingDepartment, tmp_path: Path
) -> None:
    routes = routes_for(department).replace(QUICK_RETRY, SLOWER_RETRY, 1)  # tax-bureau's
    hub = HubProcess(home=make_home(tmp_path, routes), data_dir=tmp_path / "var")
    key = hub.create_key("samr-reg")
    department.behaviours["tax-bureau"] = _busy_on_first_try_of_every_third
    department.delays["tax-bureau"] = ANSWER_SECONDS
    document = (SAMR_SAMPLES / "valid" / "nanning-qinghe-data-technology.xml").read_bytes()
    sent: dict[str, list[str]] = {}
    hub.start()
    try:
        with httpx.Client(base_url=hub.url, timeout=10) as client:
            for number in range(MESSAGES):
                correlation, message = f"order-{number % IDS}", f"msg-{number}"
                answer = client.post(
                    "/v1/messages",
                    content=document,
                    headers={
                        "Authorization": f"Bearer {key}",
                        "Content-Type": "application/xml",
                        "X-Exchange-Message-Id": message,
                        "X-Exchange-Correlation-Id": correlation,
                    },
                )
                assert answer.status_code == 202, answer.text
                sent.setdefault(correlation, []).append(message)
        wait_for(lambda: len(department.distinct_ids("tax-bureau")) == MESSAGES, timeout=60)
    finally:
        hub.stop()

    arrived: dict[str, list[str]] = {}
    seen: set[str] = set()
    for headers, _body in department.received["tax-bureau"]:
        if headers["x-exchange-id"] in seen:
            continue  # a repeat (at least once): its first receipt is what counts
        seen.add(headers["x-exchange-id"])
        correlation = headers["x-exchange-correlation-id"]
        arrived.setdefault(correlation, []).append(headers["x-exchange-message-id"])
    assert arrived == sent
    failing = sum(1 for number in range(MESSAGES) if (number // IDS) % 3 == 1)
    assert department.calls["tax-bureau"] >= MESSAGES + failing  # the retries happened
    assert department.most_in_flight > 1, "the correlation ids were not delivered concurrently"
