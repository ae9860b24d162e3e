"""RestEgress against a real HTTP receiver on 127.0.0.1 (a stand-in for a department)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from aiohttp import web

from exchange.egress import (
    EndpointMisconfigured,
    EndpointRejected,
    EndpointUnavailable,
    Outbound,
    RestEgress,
    parse_retry_after,
)
from exchange.envelope import Envelope
from exchange.errors import ConfigError, DeliveryError
from exchange.routing.model import Endpoint

PAYLOAD = b'<?xml version="1.0" encoding="UTF-8"?><tax:Registration xmlns:tax="urn:tax"/>'


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer: Any


@dataclass
class Receiver:
    base: str
    seen: list[Seen] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = web.Application()
    rec = Receiver(base="")

    async def record(request: web.Request) -> None:
        rec.seen.append(
            Seen(
                request.method,
                request.path,
                dict(request.headers),
                await request.read(),
                request.transport.get_extra_info("peername") if request.transport else None,
            )
        )

    async def ok(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(status=201, text="accepted\n  as  R-17")

    async def status(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(status=int(request.match_info["code"]), text="as you asked")

    async def busy(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(status=503, text="down for maintenance", headers={"Retry-After": "7"})

    async def limited(request: web.Request) -> web.Response:
        await record(request)
        when = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
        return web.Response(status=429, text="slow down", headers={"Retry-After": when})

    async def bad(request: web.Request) -> web.Response:
        await record(request)
        text = "element taxNo: value 'ABC' is not a valid code;" + " filler" * 100 + " END"
        return web.Response(status=400, text=text)

    async def moved(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(status=302, headers={"Location": "/ok"})

    async def slow(request: web.Request) -> web.Response:
        await record(request)
        await asyncio.wait_for(rec.release.wait(), timeout=5)
        return web.Response(text="late")

    async def hang_up(request: web.Request) -> web.Response:
        await record(request)
        assert request.transport is not None
        request.transport.close()
        await asyncio.sleep(0.05)
        return web.Response(text="never seen")

    app.router.add_route("*", "/ok", ok)
    app.router.add_post("/status/{code}", status)
    app.router.add_post("/busy", busy)
    app.router.add_post("/limited", limited)
    app.router.add_post("/bad", bad)
    app.router.add_post("/moved", moved)
    app.router.add_post("/slow", slow)
    app.router.add_post("/hang-up", hang_up)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    rec.base = f"http://{host}:{port}"
    try:
        yield rec
    finally:
        rec.release.set()
        await runner.cleanup()


@pytest.fixture
async def egress() -> AsyncIterator[RestEgress]:
    rest = RestEgress(environ={"TAX_TOKEN": "s3cret", "TAX_SYSTEM": "ctais"})
    await rest.start()
    try:
        yield rest
    finally:
        await rest.close()


def endpoint(url: str, **overrides: Any) -> Endpoint:
    fields: dict[str, Any] = {"name": "tax-in", "url": url, "format": "tax.Registration"}
    fields.update(overrides)
    return Endpoint(**fields)


ENVELOPE = Envelope.new(
    sender="market.regulation", message_type="{urn:tax}Registration", message_id="M-1"
)


def outbound(ep: Endpoint, attempt: int = 1) -> Outbound:
    return Outbound(envelope=ENVELOPE, endpoint=ep, payload=PAYLOAD, attempt=attempt)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_success_returns_receipt_with_status_and_answer(
    receiver: Receiver, egress: RestEgress
) -> None:
    receipt = await egress.send(outbound(endpoint(receiver.url("/ok"))))
    assert receipt.status == 201
    assert receipt.detail == '201 Created: "accepted as R-17"'
    assert 0 < receipt.elapsed < 5


async def test_payload_envelope_and_attempt_arrive(receiver: Receiver, egress: RestEgress) -> None:
    await egress.send(outbound(endpoint(receiver.url("/ok"), method="PUT"), attempt=3))
    [seen] = receiver.seen
    assert seen.method == "PUT"
    assert seen.body == PAYLOAD
    headers = {k.lower(): v for k, v in seen.headers.items()}
    assert headers["content-type"] == "application/xml; charset=utf-8"
    assert headers["x-exchange-id"] == ENVELOPE.id
    assert headers["x-exchange-message-id"] == "M-1"
    assert headers["x-exchange-sender"] == "market.regulation"
    assert headers["x-exchange-message-type"] == "{urn:tax}Registration"
    assert headers["x-exchange-attempt"] == "3"
    assert Envelope.from_headers(headers) == ENVELOPE


async def test_configured_headers_take_variables_from_environment(
    receiver: Receiver, egress: RestEgress
) -> None:
    ep = endpoint(
        receiver.url("/ok"),
        headers={"Authorization": "Bearer ${TAX_TOKEN}", "X-System": "${TAX_SYSTEM}-v2"},
    )
    await egress.send(outbound(ep))
    [seen] = receiver.seen
    assert seen.headers["Authorization"] == "Bearer s3cret"
    assert seen.headers["X-System"] == "ctais-v2"


async def test_variables_default_to_process_environment(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EGRESS_TEST_KEY", "from-env")
    rest = RestEgress()
    await rest.start()
    try:
        await rest.send(
            outbound(endpoint(receiver.url("/ok"), headers={"K": "${EGRESS_TEST_KEY}"}))
        )
    finally:
        await rest.close()
    assert receiver.seen[0].headers["K"] == "from-env"


async def test_missing_variable_is_a_config_error_naming_it(
    receiver: Receiver, egress: RestEgress
) -> None:
    ep = endpoint(receiver.url("/ok"), headers={"Authorization": "Bearer ${SOC_TOKEN}"})
    with pytest.raises(EndpointMisconfigured) as caught:
        await egress.send(outbound(ep))
    error = caught.value
    assert isinstance(error, ConfigError) and isinstance(error, DeliveryError)
    assert error.retriable is False
    assert "SOC_TOKEN" in error.detail and "'tax-in'" in error.detail
    assert receiver.seen == []
    with pytest.raises(ConfigError, match="SOC_TOKEN"):
        egress.check(ep)


def test_check_refuses_headers_that_would_overwrite_the_envelope() -> None:
    ep = endpoint("http://127.0.0.1:9/", headers={"X-Exchange-Sender": "spoofed"})
    with pytest.raises(ConfigError, match="X-Exchange-Sender"):
        RestEgress().check(ep)


async def test_503_is_retriable_and_keeps_retry_after(
    receiver: Receiver, egress: RestEgress
) -> None:
    url = receiver.url("/busy")
    with pytest.raises(EndpointUnavailable) as caught:
        await egress.send(outbound(endpoint(url)))
    error = caught.value
    assert error.retriable is True
    assert error.status == 503
    assert error.retry_after == 7.0
    assert error.endpoint == "tax-in" and error.url == url
    assert "'tax-in'" in error.detail and url in error.detail
    assert "503" in error.detail and "down for maintenance" in error.detail


async def test_429_retry_after_as_http_date(receiver: Receiver, egress: RestEgress) -> None:
    with pytest.raises(EndpointUnavailable) as caught:
        await egress.send(outbound(endpoint(receiver.url("/limited"))))
    assert caught.value.status == 429
    assert caught.value.retry_after is not None
    assert 55 <= caught.value.retry_after <= 60


@pytest.mark.parametrize("code", [408, 425, 429, 500, 502, 503, 504])
async def test_retriable_statuses(code: int, receiver: Receiver, egress: RestEgress) -> None:
    with pytest.raises(DeliveryError) as caught:
        await egress.send(outbound(endpoint(receiver.url(f"/status/{code}"))))
    assert caught.value.retriable is True
    assert caught.value.status == code


@pytest.mark.parametrize("code", [401, 403, 404, 409, 413, 422, 501, 505])
async def test_other_statuses_are_not_retriable(
    code: int, receiver: Receiver, egress: RestEgress
) -> None:
    with pytest.raises(EndpointRejected) as caught:
        await egress.send(outbound(endpoint(receiver.url(f"/status/{code}"))))
    assert caught.value.retriable is False
    assert caught.value.status == code
    assert "as you asked" in caught.value.detail


async def test_400_is_not_retriable_and_quotes_the_answer(
    receiver: Receiver, egress: RestEgress
) -> None:
    with pytest.raises(EndpointRejected) as caught:
        await egress.send(outbound(endpoint(receiver.url("/bad"))))
    error = caught.value
    assert error.retriable is False
    assert error.status == 400
    assert "element taxNo: value 'ABC' is not a valid code;" in error.detail
    assert "END" not in error.detail  # only the first 200 characters
    quoted = error.detail.split('"')[1]
    assert len(quoted) == 200
    assert "\n" not in error.detail
    assert "dead-letter" in error.detail  # says what to do


async def test_redirect_is_refused_not_followed(receiver: Receiver, egress: RestEgress) -> None:
    with pytest.raises(EndpointRejected) as caught:
        await egress.send(outbound(endpoint(receiver.url("/moved"))))
    assert caught.value.status == 302
    assert "/ok" in caught.value.detail
    assert [s.path for s in receiver.seen] == ["/moved"]


async def test_connection_refused_is_retriable(egress: RestEgress) -> None:
    url = f"http://127.0.0.1:{closed_port()}/in"
    with pytest.raises(EndpointUnavailable) as caught:
        await egress.send(outbound(endpoint(url)))
    error = caught.value
    assert error.retriable is True
    assert error.status is None
    assert "'tax-in'" in error.detail and url in error.detail
    assert "connection failed" in error.detail


async def test_credentials_in_url_stay_out_of_the_detail(egress: RestEgress) -> None:
    url = f"http://hub:pa55word@127.0.0.1:{closed_port()}/in"
    with pytest.raises(EndpointUnavailable) as caught:
        await egress.send(outbound(endpoint(url)))
    assert "pa55word" not in caught.value.detail


async def test_timeout_is_retriable(receiver: Receiver, egress: RestEgress) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(EndpointUnavailable) as caught:
        await egress.send(outbound(endpoint(receiver.url("/slow"), timeout=0.2)))
    assert loop.time() - started < 2
    assert caught.value.retriable is True
    assert "0.2 s" in caught.value.detail and "timeout" in caught.value.detail


async def test_receiver_hanging_up_is_retriable(receiver: Receiver, egress: RestEgress) -> None:
    with pytest.raises(EndpointUnavailable) as caught:
        await egress.send(outbound(endpoint(receiver.url("/hang-up"))))
    assert caught.value.retriable is True


async def test_connections_are_reused(receiver: Receiver, egress: RestEgress) -> None:
    ep = endpoint(receiver.url("/ok"))
    for _ in range(20):
        await egress.send(outbound(ep))
    assert len(receiver.seen) == 20
    assert len({s.peer for s in receiver.seen}) == 1


async def test_concurrent_sends_share_the_pool(receiver: Receiver) -> None:
    rest = RestEgress(max_connections=4)
    await rest.start()
    try:
        ep = endpoint(receiver.url("/ok"))
        receipts = await asyncio.gather(*(rest.send(outbound(ep)) for _ in range(40)))
    finally:
        await rest.close()
    assert all(r.status == 201 for r in receipts)
    assert len({s.peer for s in receiver.seen}) <= 4


async def test_send_before_start_says_so() -> None:
    with pytest.raises(RuntimeError, match="start"):
        await RestEgress().send(outbound(endpoint("http://127.0.0.1:9/")))


def test_bad_pool_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="max_connections"):
        RestEgress(max_connections=0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past: no wait
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == expected
