"""SOAP ingress against REST ingress on the same hub: what the SOAP front door costs.

Starts the demo receivers and one hub (``exchange serve``) as ``bench.e2e`` does, then sends
the same ~3 KB enterprise registration ``--messages`` times over ``--concurrency`` keep-alive
connections as ``POST /v1/messages`` (REST) and as a SOAP 1.1 ``Submit`` to ``/soap``
(WS-Security UsernameToken, ExchangeHeader with the message id), with one client code path for
both, in ``--rounds`` alternations (REST, SOAP, REST, SOAP, ...). After each batch the hub
delivers everything and goes idle, so no batch pays for another's deliveries. Prints, for
each: requests per second, p50 / p99 of the time from send to answer, and the hub's CPU per
message (ingress and the deliveries that follow), then the SOAP / REST ratios.

    .venv/bin/python -m bench.soap_ingress [--messages 2000] [--concurrency 20] [--warmup 200]
                                          [--rounds 4]

Exit status 0 when every message was accepted and delivered, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import uvloop
from lxml import etree

from bench.e2e import (
    BenchFailure,
    Child,
    _terminate,
    create_key,
    percentile,
    pick_sample,
    routes_yaml,
    wait_for_deliveries,
)
from bench.machine import wait_until_idle
from tests.harness import free_port, make_home

SENDER = "samr-reg"
HUB_NS = "urn:exchange-hub:soap:1"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordText"
)
ENDPOINTS = ["tax-bureau"]
_SOAP_ID = re.compile(rb"<(?:\w+:)?id>([^<]+)</")

# (headers, body) of the i-th request, and the hub id from an accepted answer (None if not).
Request = Callable[[int], tuple[dict[str, str], bytes]]
Answer = Callable[[int, bytes], str | None]


@dataclass
class Run:
    name: str
    latencies: list[float]
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    hub_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000


def rest_requests(key: str, body: bytes, run: str) -> Request:
    def build(i: int) -> tuple[dict[str, str], bytes]:
        return {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/xml",
            "X-Exchange-Sender": SENDER,
            "X-Exchange-Message-Id": f"bench-rest-{run}-{i}",
        }, body

    return build


def soap_requests(key: str, body: bytes, run: str) -> Request:
    document = etree.tostring(etree.fromstring(body), encoding="UTF-8")  # no XML declaration
    head = (
        f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:h="{HUB_NS}">'
        f'<s:Header><wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken>'
        f"<wsse:Username>{SENDER}</wsse:Username>"
        f'<wsse:Password Type="{PASSWORD_TEXT}">{key}</wsse:Password>'
        "</wsse:UsernameToken></wsse:Security><h:ExchangeHeader><h:messageId>"
    ).encode()
    tail = (
        b"</h:messageId></h:ExchangeHeader></s:Header><s:Body><h:Submit><h:document>"
        + document
        + b"</h:document></h:Submit></s:Body></s:Envelope>"
    )
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"Submit"'}

    def build(i: int) -> tuple[dict[str, str], bytes]:
        return headers, head + f"bench-soap-{run}-{i}".encode() + tail

    return build


def rest_answer(status: int, data: bytes) -> str | None:
    if status != 202:
        return None
    found = re.search(rb'"id":\s*"([^"]+)"', data)
    return found.group(1).decode() if found else None


def soap_answer(status: int, data: bytes) -> str | None:
    found = _SOAP_ID.search(data) if status == 200 else None
    return found.group(1).decode() if found else None


async def send(
    session: aiohttp.ClientSession,
    url: str,
    build: Request,
    answer: Answer,
    count: int,
    concurrency: int,
    name: str,
) -> Run:
    """Send ``count`` requests, ``concurrency`` at a time, timing each one."""
    run = Run(name, [0.0] * count)
    indexes: Iterator[int] = iter(range(count))

    async def worker() -> None:
        for i in indexes:
            headers, body = build(i)
            began = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    data, status = await response.read(), response.status
            except aiohttp.ClientError as exc:
                run.failures.append(f"{name} {i}: {exc!r}")
                continue
            finally:
                run.latencies[i] = time.perf_counter() - began
            if answer(status, data) is None:
                run.failures.append(f"{name} {i}: HTTP {status} {data[:300]!r}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    run.seconds = time.perf_counter() - started
    return run


@dataclass
class Options:
    messages: int
    concurrency: int
    warmup: int
    rounds: int
    timeout: float


async def measure(
    options: Options, hub: Child, hub_url: str, receivers_url: str, key: str
) -> list[Run]:
    body = pick_sample().read_bytes()
    tag = uuid.uuid4().hex[:8]
    kinds = {
        "REST": (f"{hub_url}/v1/messages", rest_requests, rest_answer),
        "SOAP": (f"{hub_url}/soap", soap_requests, soap_answer),
    }
    summary = f"{receivers_url}/demo-receivers"
    delivered = 0
    runs: list[Run] = []
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=options.concurrency)) as load,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2)) as side,
    ):

        async def drained(expected: int) -> None:
            deadline = time.perf_counter() + options.timeout
            await wait_for_deliveries(
                side, summary, ENDPOINTS, lambda: expected, lambda: deadline, hub.alive
            )

        for name, (url, requests, answer) in kinds.items():
            if options.warmup:
                warm = await send(
                    load,
                    url,
                    requests(key, body, f"{tag}-warm"),
                    answer,
                    options.warmup,
                    options.concurrency,
                    name,
                )
                if warm.failures:
                    raise BenchFailure(f"warm-up refused: {warm.failures[0]}")
                delivered += options.warmup
                await drained(delivered)
                await wait_until_idle(hub.cpu)
        # Alternating rounds, so that neither kind always runs on the fuller store.
        totals = {name: Run(name, []) for name in kinds}
        for round_ in range(options.rounds):
            for name, (url, requests, answer) in kinds.items():
                count = options.messages // options.rounds
                print(f"round {round_ + 1}: {count:,} {name} messages", flush=True)
                cpu = hub.cpu()
                run = await send(
                    load,
                    url,
                    requests(key, body, f"{tag}-{round_}"),
                    answer,
                    count,
                    options.concurrency,
                    name,
                )
                if run.failures:
                    raise BenchFailure(
                        f"{len(run.failures):,} {name} messages refused; first: {run.failures[0]}"
                    )
                delivered += count
                await drained(delivered)
                total = totals[name]
                total.hub_cpu += await wait_until_idle(hub.cpu) - cpu
                total.latencies += run.latencies
                total.seconds += run.seconds
        runs = list(totals.values())
    return runs


def report(runs: Sequence[Run], concurrency: int, size: int) -> str:
    messages = len(runs[0].latencies)
    lines = [f"  {messages:,} messages of {size:,} B each way, {concurrency} connections", ""]
    lines.append(f"  {'':6}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'hub CPU/msg':>14}")
    for run in runs:
        lines.append(
            f"  {run.name:6}{run.rate:>8,.0f}{run.ms(50):>9.1f}{run.ms(99):>9.1f}"
            f"{run.hub_cpu / messages * 1000:>11.3f} ms"
        )
    rest, soap = runs
    lines += [
        "",
        f"  SOAP / REST: throughput {soap.rate / rest.rate:.2f}×,"
        f" p50 {soap.ms(50) / rest.ms(50):.2f}×, p99 {soap.ms(99) / rest.ms(99):.2f}×,"
        " hub CPU per message "
        f"{soap.hub_cpu / rest.hub_cpu:.2f}× "
        f"({(soap.hub_cpu - rest.hub_cpu) / messages * 1000:+.3f} ms)",
    ]
    return "\n".join(lines)


def run(options: Options) -> int:
    sample = pick_sample()
    tmp = Path(tempfile.mkdtemp(prefix="exchange-bench-soap-"))
    receivers_port, hub_port = free_port(), free_port()
    home = make_home(tmp, routes_yaml(receivers_port, fan_out=False))
    data_dir = tmp / "data"
    data_dir.mkdir()
    env = {**os.environ, "EXCHANGE_HOME": str(home), "EXCHANGE_DATA_DIR": str(data_dir)}
    python = [sys.executable, "-m", "exchange"]
    receivers = Child(
        "demo receivers",
        [*python, "demo-receivers", "--port", str(receivers_port)],
        env,
        tmp / "receivers.log",
    )
    hub = Child("hub", [*python, "serve", "--port", str(hub_port)], env, tmp / "hub.log")
    hub_url, receivers_url = f"http://127.0.0.1:{hub_port}", f"http://127.0.0.1:{receivers_port}"
    ok = False
    try:
        receivers.start(f"{receivers_url}/demo-receivers")
        key = create_key(env)
        hub.start(f"{hub_url}/healthz")
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runs = runner.run(measure(options, hub, hub_url, receivers_url, key))
        print()
        print(report(runs, options.concurrency, sample.stat().st_size))
        ok = True
    except BenchFailure as exc:
        print(f"\nFAILED: {exc}\nlast lines of the hub's log:\n{hub.log_tail()}", file=sys.stderr)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the hub and the receivers", file=sys.stderr)
    finally:
        hub.stop()
        receivers.stop()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs and data kept in {tmp}", file=sys.stderr)
    return 0 if ok else 1


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soap_ingress",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--messages", type=int, default=2000, help="measured messages each way")
    parser.add_argument("--concurrency", type=int, default=20, help="connections in flight")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured messages each way")
    parser.add_argument("--rounds", type=int, default=4, help="alternations of REST and SOAP")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to deliver a run")
    args = parser.parse_args(argv)
    if min(args.messages, args.concurrency, args.rounds) < 1 or args.messages < args.rounds:
        parser.error("--messages, --concurrency and --rounds must be >= 1, --messages >= --rounds")
    if args.warmup < 0 or args.timeout <= 0:
        parser.error("--warmup must be >= 0 and --timeout > 0")
    return Options(args.messages, args.concurrency, args.warmup, args.rounds, args.timeout)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    return run(options)


if __name__ == "__main__":
    sys.exit(main())
