"""Test doubles for egress, shipped with the hub the way httpx ships ``MockTransport``.

- :class:`MemoryEgress` accepts every delivery and keeps it (``sent``): for tests
  that care about *what* left the hub, not how a receiver answered.
- :class:`ScriptedEgress` answers from a script, one step per send: a receipt,
  a retriable failure with a delay, a rejection, or any exception: for tests of
  the engine's retries, back-off, circuit breaker and dead-lettering.

Either stands in for a real kind: ``EgressRegistry({"rest": lambda: MemoryEgress("rest")},
load_entry_points=False)``. Both check nothing about the endpoint and pass the egress
conformance suite (``tests/conformance/egress_suite.py``).

    script = ScriptedEgress("rest", [unavailable(retry_after=2), rejected(400)], then=receipt())
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import ClassVar, Literal

from exchange.egress.base import (
    Egress,
    EndpointRejected,
    EndpointUnavailable,
    Outbound,
    Receipt,
)
from exchange.routing.model import Endpoint

# One step of a script: given the try, answer a Receipt or raise.
Step = Callable[[Outbound], Receipt | Awaitable[Receipt]]


class MemoryEndpoint(Endpoint):
    """``kind: memory``: an endpoint served by a MemoryEgress registered under that kind."""

    kind: Literal["memory"] = "memory"


class _Double(Egress):
    kind: ClassVar[str] = "memory"
    endpoint_model: ClassVar[type[Endpoint]] = MemoryEndpoint

    def __init__(self, kind: str | None = None) -> None:
        # An instance may serve another kind ("rest"), so it can stand in for it.
        if kind is not None:
            self.kind = kind  # type: ignore[misc]
        self.sent: list[Outbound] = []
        self.started = self.closed = False
        self._arrived = asyncio.Condition()

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.closed = True

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Outbound]:
        """Wait until ``count`` sends were made; the sends so far (TimeoutError if too slow)."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.sent) >= count)
        return list(self.sent)

    async def _record(self, outbound: Outbound) -> None:
        async with self._arrived:
            self.sent.append(outbound)
            self._arrived.notify_all()


class MemoryEgress(_Double):
    """Records every outbound in ``sent`` and answers 200."""

    async def send(self, outbound: Outbound) -> Receipt:
        await self._record(outbound)
        return Receipt(status=200, detail="200 OK (memory egress)", elapsed=0.0)


class ScriptedEgress(_Double):
    """Answers each send with the next step of ``script``; ``then`` answers after it ends.

    A step is a Receipt, an exception instance (raised), or a callable of the
    outbound (see :func:`receipt`, :func:`unavailable`, :func:`rejected`). Without
    ``then`` a send past the script's end fails the test, saying so.
    """

    def __init__(
        self,
        kind: str | None = None,
        script: Iterable[Step | Receipt | BaseException] = (),
        *,
        then: Step | Receipt | BaseException | None = None,
    ) -> None:
        super().__init__(kind)
        self.script = list(script)
        self.then = then

    async def send(self, outbound: Outbound) -> Receipt:
        await self._record(outbound)
        index = len(self.sent) - 1
        if index < len(self.script):
            step = self.script[index]
        elif self.then is not None:
            step = self.then
        else:
            raise AssertionError(
                f"ScriptedEgress: send {index + 1} but the script has {len(self.script)} "
                "steps; add steps or pass then="
            )
        if isinstance(step, Receipt):
            return step
        if isinstance(step, BaseException):
            raise step
        answer = step(outbound)
        return await answer if isinstance(answer, Awaitable) else answer


def receipt(status: int = 200, detail: str | None = None) -> Step:
    """A step answering a receipt."""

    def answer(outbound: Outbound) -> Receipt:
        return Receipt(status=status, detail=detail or f"{status} (scripted)", elapsed=0.0)

    return answer


def unavailable(retry_after: float | None = None, status: int | None = 503) -> Step:
    """A step failing retriably, asking (or not) to wait ``retry_after`` seconds."""

    def answer(outbound: Outbound) -> Receipt:
        endpoint = outbound.endpoint
        raise EndpointUnavailable(
            f"endpoint {endpoint.name!r} is unavailable (scripted {status}); retriable",
            endpoint=endpoint.name,
            url=_url(endpoint),
            status=status,
            retry_after=retry_after,
        )

    return answer


def rejected(status: int = 400, reason: str = "refused by the script") -> Step:
    """A step rejecting the document (not retriable)."""

    def answer(outbound: Outbound) -> Receipt:
        endpoint = outbound.endpoint
        raise EndpointRejected(
            f"endpoint {endpoint.name!r} answered {status}: {reason}",
            endpoint=endpoint.name,
            url=_url(endpoint),
            status=status,
        )

    return answer


def _url(endpoint: Endpoint) -> str:
    url = getattr(endpoint, "url", None) or getattr(endpoint, "address", None)
    return str(url) if url else f"{endpoint.kind}:{endpoint.name}"


__all__ = [
    "MemoryEgress",
    "MemoryEndpoint",
    "ScriptedEgress",
    "Step",
    "receipt",
    "rejected",
    "unavailable",
]
