"""CPU time per event of the events' JSON: the hub's codec against the standard library's.

Every message puts about three events on the backbone (accepted, routed, delivered), each
encoded once by the stage that publishes it and decoded once by the indexer, which also
writes each one's step detail as JSON text.  This times exactly that for the three kinds, with
the hub's codec (``exchange.records.events``: pydantic-core) and, for comparison, with the
standard library's ``json`` doing the same work (what the hub used before), and prints the
microseconds per event of each and their ratio.

    .venv/bin/python -m bench.event_codec [--events 3000] [--repeats 20]

Each figure is the best of ``--repeats`` rounds: the least disturbed by the rest of a busy
machine.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from exchange.envelope import Envelope
from exchange.records.events import (
    Accepted,
    Delivered,
    Destination,
    Event,
    Routed,
    decode,
    encode,
    fields_of,
    to_json,
)


def _events(count: int) -> list[Event]:
    out: list[Event] = []
    for n in range(count // 3):
        envelope = Envelope.new(
            sender="samr-reg",
            message_type="samr.EnterpriseRegistration",
            message_id=f"bench-{n}",
            schema_version="1.0",
        )
        destination = Destination(endpoint="tax-bureau", route="fan-out", adapters=("a", "b"))
        out += [
            Accepted.of(envelope, size=2700, via="rest"),
            Routed(id=envelope.id, destinations=(destination,)),
            Delivered(
                id=envelope.id,
                attempt=1,
                status=200,
                elapsed_ms=3.2,
                endpoint="tax-bureau",
                route="fan-out",
                adapters=("a", "b"),
            ),
        ]
    return out


def _stdlib_body(event: Event) -> dict[str, Any]:
    fields = fields_of(event)
    if isinstance(event, Routed):
        fields["destinations"] = [
            {"endpoint": d.endpoint, "route": d.route, "adapters": list(d.adapters)}
            for d in event.destinations
        ]
    return {"event": event.kind, "id": event.id, "at": event.at.isoformat(), **fields}


def _stdlib_encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def _stdlib_decode(value: bytes) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(value)
    body["at"] = datetime.fromisoformat(body["at"])
    return body


def _best(work: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    events = _events(args.events)
    count = len(events)
    wire = [encode(e) for e in events]
    bodies = [_stdlib_body(e) for e in events]
    std_wire = [_stdlib_encode(b) for b in bodies]
    details = [fields_of(e) for e in events]
    std_details = [{k: v for k, v in b.items() if k not in ("event", "id", "at")} for b in bodies]
    rows = [
        (
            "encode",
            lambda: [encode(e) for e in events],
            lambda: [_stdlib_encode(_stdlib_body(e)) for e in events],
        ),
        (
            "decode",
            lambda: [decode(v) for v in wire],
            lambda: [_stdlib_decode(v) for v in std_wire],
        ),
        (
            "step detail",
            lambda: [to_json(d) for d in details],
            lambda: [json.dumps(d, ensure_ascii=False) for d in std_details],
        ),
    ]
    print(f"{count} events (accepted, routed, delivered), best of {args.repeats} rounds")
    total_hub = total_std = 0.0
    for name, hub, stdlib in rows:
        hub_us = _best(hub, args.repeats) / count * 1e6
        std_us = _best(stdlib, args.repeats) / count * 1e6
        total_hub, total_std = total_hub + hub_us, total_std + std_us
        ratio = hub_us / std_us
        print(f"{name:12s} hub {hub_us:6.2f} µs  stdlib json {std_us:6.2f} µs  {ratio:.2f} ×")
    print(
        f"{'all':12s} hub {total_hub:6.2f} µs  stdlib json {total_std:6.2f} µs  "
        f"{total_hub / total_std:.2f} ×"
    )


if __name__ == "__main__":
    main()
