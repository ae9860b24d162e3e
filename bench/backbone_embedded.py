"""Publish throughput of the embedded backbone: 50 concurrent publishers, one 3 KB record each call.

Run with ``python -m bench.backbone_embedded [seconds-per-setting]``; prints records/s for
``synchronous=FULL`` (survives power loss) and ``NORMAL`` (survives a killed process), and how
long one publish waited at the median and the 99th percentile.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from exchange.backbone import EmbeddedBackbone, Record

PUBLISHERS = 50
RECORD = os.urandom(3 * 1024)


async def measure(path: Path, synchronous: str, seconds: float) -> tuple[float, float, float]:
    backbone = EmbeddedBackbone(path, synchronous=synchronous)
    await backbone.start()
    waits: list[float] = []
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + seconds

    async def publisher(n: int) -> None:
        i = 0
        while loop.time() < stop_at:
            started = time.perf_counter()
            await backbone.publish([Record("bench", RECORD, key=f"p{n}", dedup_key=f"{n}-{i}")])
            waits.append(time.perf_counter() - started)
            i += 1

    started = time.perf_counter()
    await asyncio.gather(*(publisher(n) for n in range(PUBLISHERS)))
    elapsed = time.perf_counter() - started
    await backbone.close()
    waits.sort()
    p99 = waits[int(len(waits) * 0.99)]
    return len(waits) / elapsed, statistics.median(waits), p99


async def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    print(f"{PUBLISHERS} publishers, one {len(RECORD)} B record per publish, {seconds:.0f} s each")
    with tempfile.TemporaryDirectory() as folder:
        for synchronous in ("FULL", "NORMAL"):
            path = Path(folder) / f"{synchronous}.db"
            rate, median, p99 = await measure(path, synchronous, seconds)
            print(
                f"synchronous={synchronous:<6} {rate:8,.0f} records/s   "
                f"publish wait median {median * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
            )


if __name__ == "__main__":
    asyncio.run(main())
