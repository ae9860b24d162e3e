"""CPU time per message of the router's routing, with and without the adapter time limit.

The time limit (``exchange.adapters.time_limit``) moves a batch's routing onto a translating
thread (one hop per batch) and wraps every adapter call in ``Watch.call``.  This times the
router on the repository's home (the demo fan-out: three destinations, three XSLT calls per
message, XSD validation of each output) both ways:

- ``inline``: what the router did before: each message routed on the event loop thread,
  ``asyncio.sleep(0)`` between messages;
- ``deadline``: ``Router.route_batch``: the batch on the translating thread, every adapter
  call under its time limit, the event loop watching.

    .venv/bin/python -m bench.translate_deadline [--messages 2000] [--repeats 7]

It prints the CPU microseconds per message (both threads counted) for batches of 1, 10,
50 and 200 messages (the router fetches up to 200; under light load a batch holds one), each the
best of ``--repeats`` rounds, and the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from exchange.backbone.base import ConsumedRecord
from exchange.backbone.topics import INBOUND
from exchange.envelope import Envelope
from exchange.pipeline.router import Router
from exchange.ruleset import RuleSet

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "schemas" / "samr.EnterpriseRegistration" / "1.0" / "samples" / "valid"


def _records(count: int) -> list[ConsumedRecord]:
    samples = [path.read_bytes() for path in sorted(SAMPLES.glob("*.xml"))]
    records = []
    for n in range(count):
        envelope = Envelope.new(
            sender="samr-reg", message_type="samr.EnterpriseRegistration", message_id=f"b-{n}"
        )
        records.append(
            ConsumedRecord(
                topic=INBOUND,
                partition=0,
                offset=n,
                value=samples[n % len(samples)],
                key=None,
                headers=envelope.to_headers(),
                timestamp=0.0,
            )
        )
    return records


async def _inline(router: Router, batch: list[ConsumedRecord]) -> None:
    for record in batch:
        router._route_safely(record)  # the path before the time limit
        await asyncio.sleep(0)


async def _deadline(router: Router, batch: list[ConsumedRecord]) -> None:
    await router.route_batch(batch)


async def _cpu_per_message(
    run: Callable[[Router, list[ConsumedRecord]], Awaitable[None]],
    router: Router,
    records: list[ConsumedRecord],
    batch_size: int,
    repeats: int,
) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for at in range(0, len(records), batch_size):
            await run(router, records[at : at + batch_size])
        best = min(best, time.process_time() - started)
    return best / len(records) * 1e6


async def _main(messages: int, repeats: int) -> None:
    rules = RuleSet.load(REPO)
    backbone: Any = None  # route_batch and _route_safely never touch the backbone
    router = Router(backbone, lambda: rules)
    records = _records(messages)
    # Warm up: each thread compiles its own copy of each stylesheet.
    await _inline(router, records[:20])
    await _deadline(router, records[:20])
    outputs, _, runaway = await router.route_batch(records[:4])
    assert runaway is None and len(outputs) >= 12, "the fan-out did not route; check the home"
    print(f"{messages} messages, demo fan-out (3 destinations), best of {repeats} rounds")
    print(f"{'batch':>6} {'inline µs/msg':>14} {'deadline µs/msg':>16} {'difference':>11}")
    for batch_size in (1, 10, 50, 200):
        inline = await _cpu_per_message(_inline, router, records, batch_size, repeats)
        deadline = await _cpu_per_message(_deadline, router, records, batch_size, repeats)
        print(f"{batch_size:>6} {inline:>14.1f} {deadline:>16.1f} {deadline - inline:>+10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(_main(args.messages, args.repeats))


if __name__ == "__main__":
    main()
