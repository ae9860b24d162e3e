"""The egress contract, as tests every egress implementation must pass.

What every egress promises the delivery engine (which owns retries, back-off and
dead-lettering, and only asks ``retriable``):

- a 2xx answer is a ``Receipt``;
- 503 with ``Retry-After`` is a retriable ``DeliveryError`` carrying the delay;
- a refused connection is retriable;
- a 4xx answer is rejected, not retriable;
- an endpoint configured wrongly is refused as a ``ConfigError`` (by ``check``) or, at
  send time, as an ``EndpointMisconfigured`` (not retriable).

A test module subclasses ``EgressSuite`` (its name starting with ``Test``) and provides
``make_egress()`` (unstarted) and ``arrange(situation)``: an endpoint whose receiver
behaves as ``situation`` says ("accepts", "busy" = 503 + Retry-After 7, "refuses
connections", "rejects" = 400), plus ``misconfigured()`` and ``delivered()`` (how many
deliveries the receiver got). ``HttpEgressSuite`` provides the receiver for egresses
that speak HTTP: a real aiohttp server on 127.0.0.1 that answers what the test scripts.
An egress that checks no configuration (a test double) declares
``checks_configuration = False``, and is then asserted to accept any endpoint.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import pytest
from aiohttp import web

from exchange.egress import Egress, EndpointMisconfigured, Outbound, Receipt
from exchange.envelope import Envelope
from exchange.errors import ConfigError, DeliveryError
from exchange.routing.model import Endpoint
from tests.harness import free_port

Situation = Literal["accepts", "busy", "refuses connections", "rejects"]
RETRY_AFTER = 7


class EgressSuite:
    checks_configuration: bool = True
    payload: bytes = b"<Doc/>"
    message_type: str = "a.Doc"

    def make_egress(self) -> Egress:
        raise NotImplementedError

    async def arrange(self, situation: Situation) -> Endpoint:
        raise NotImplementedError

    def misconfigured(self) -> Endpoint:
        raise NotImplementedError

    def delivered(self) -> int:
        raise NotImplementedError

    @asynccontextmanager
    async def started(self) -> AsyncIterator[Egress]:
        egress = self.make_egress()
        await egress.start()
        try:
            yield egress
        finally:
            await egress.close()

    def outbound(self, endpoint: Endpoint, attempt: int = 1) -> Outbound:
        envelope = Envelope.new(sender="conformance", message_type=self.message_type)
        return Outbound(envelope=envelope, endpoint=endpoint, payload=self.payload, attempt=attempt)

    async def test_2xx_is_a_receipt(self) -> None:
        async with self.started() as egress:
            endpoint = await self.arrange("accepts")
            egress.check(endpoint)
            receipt = await egress.send(self.outbound(endpoint))
        assert isinstance(receipt, Receipt)
        assert receipt.status is None or 200 <= receipt.status < 300
        assert receipt.elapsed >= 0 and receipt.detail
        assert self.delivered() == 1

    async def test_503_with_retry_after_is_retriable_with_the_delay(self) -> None:
        async with self.started() as egress:
            endpoint = await self.arrange("busy")
            with pytest.raises(DeliveryError) as caught:
                await egress.send(self.outbound(endpoint))
        error = caught.value
        assert error.retriable is True
        assert getattr(error, "retry_after", None) == RETRY_AFTER
        assert endpoint.name in error.detail

    async def test_refused_connection_is_retriable(self) -> None:
        async with self.started() as egress:
            endpoint = await self.arrange("refuses connections")
            with pytest.raises(DeliveryError) as caught:
                await egress.send(self.outbound(endpoint))
        assert caught.value.retriable is True
        assert endpoint.name in caught.value.detail

    async def test_4xx_is_rejected_not_retriable(self) -> None:
        async with self.started() as egress:
            endpoint = await self.arrange("rejects")
            with pytest.raises(DeliveryError) as caught:
                await egress.send(self.outbound(endpoint))
        assert caught.value.retriable is False
        assert type(caught.value).retriable is False  # the class says so, not only the instance
        assert caught.value.status == 400

    async def test_misconfiguration_is_a_config_error(self) -> None:
        async with self.started() as egress:
            if not self.checks_configuration:
                endpoint = await self.arrange("accepts")
                egress.check(endpoint)  # a double accepts whatever it is given
                return
            endpoint = self.misconfigured()
            try:
                egress.check(endpoint)
            except ConfigError as exc:
                assert exc.detail and exc.retriable is False
                return
            with pytest.raises(EndpointMisconfigured) as caught:
                await egress.send(self.outbound(endpoint))
        assert caught.value.retriable is False
        assert isinstance(caught.value, ConfigError)

    async def test_a_later_attempt_is_sent_the_same_way(self) -> None:
        async with self.started() as egress:
            endpoint = await self.arrange("accepts")
            receipt = await egress.send(self.outbound(endpoint, attempt=3))
        assert isinstance(receipt, Receipt)


class LoopbackReceiver:
    """An HTTP server on 127.0.0.1 answering what the test queued (default: 200)."""

    def __init__(self) -> None:
        self.answers: deque[web.Response] = deque()
        self.requests: list[bytes] = []
        self.ok: web.Response | None = None
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/inbox"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/inbox", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(await request.read())
        if self.answers:
            return self.answers.popleft()
        return web.Response(status=200, text="ok")


class HttpEgressSuite(EgressSuite):
    """An egress over HTTP, against a real loopback receiver; subclasses give ``endpoint``."""

    receiver: LoopbackReceiver

    def endpoint(self, url: str) -> Endpoint:
        raise NotImplementedError

    def accepted(self) -> web.Response:
        """What the receiver answers to a good delivery."""
        return web.Response(status=200, text="ok")

    @pytest.fixture(autouse=True)
    async def _receiver(self) -> AsyncIterator[None]:
        self.receiver = LoopbackReceiver()
        await self.receiver.start()
        yield
        await self.receiver.stop()

    async def arrange(self, situation: Situation) -> Endpoint:
        if situation == "refuses connections":
            return self.endpoint(f"http://127.0.0.1:{free_port()}/inbox")
        answer = {
            "accepts": self.accepted(),
            "busy": web.Response(status=503, headers={"Retry-After": str(RETRY_AFTER)}),
            "rejects": web.Response(status=400, text="no"),
        }[situation]
        self.receiver.answers.append(answer)
        return self.endpoint(self.receiver.url)

    def delivered(self) -> int:
        return len(self.receiver.requests)
