"""Latency histograms with fixed, log-spaced buckets, and percentiles estimated from them.

A histogram of fixed buckets can be added up: the same buckets counted per second, per
minute or per hour, per endpoint or per sender, sum to the histogram of any range and any
group, which a list of samples or a running percentile cannot.  That is what lets the
traffic table (exchange/store/traffic.py) keep one row per bucket of time and answer p50,
p95 and p99 for any range from sums in SQL.

Bucket ``i`` holds latencies in (2^((i-1)/2), 2^(i/2)] milliseconds: a factor of √2 per
bucket, 1 ms (bucket 0 also takes everything below) up to 2^19.5 ms ≈ 12.4 min; the last
bucket (``BUCKETS - 1``) takes everything longer.  A percentile interpolated inside its
bucket (evenly on the log scale) is within a factor of √2 of the truth, and much closer
when the bucket is not sparse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

BUCKETS = 41  # 0 .. 39 bounded, 40 for what is longer than the last bound
_LAST_BOUNDED = BUCKETS - 2
PERCENTILES = (0.5, 0.95, 0.99)


def upper_bound_ms(index: int) -> float:
    """The largest latency bucket ``index`` holds (math.inf for the last one)."""
    if index > _LAST_BOUNDED:
        return math.inf
    return float(2.0 ** (index / 2))


def bucket_of(ms: float) -> int:
    """The bucket a latency of ``ms`` milliseconds is counted in."""
    if ms <= 1.0:  # also what a clock step made negative: counted, never lost
        return 0
    index = math.ceil(2 * math.log2(ms) - 1e-9)  # a bound itself belongs to its own bucket
    return min(index, BUCKETS - 1)


def percentile(counts: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0 < q <= 1) in milliseconds estimated from bucket counts.

    None when the histogram is empty.  Inside a bucket the rank is interpolated evenly on
    the log scale (linearly in the first bucket, which starts at 0); in the last, open
    bucket the answer is its lower bound, the most that can be said.
    """
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count <= 0:
            continue
        if seen + count >= rank:
            share = (rank - seen) / count
            upper = upper_bound_ms(index)
            if index == 0:
                return round(share * upper, 3)
            lower = upper_bound_ms(index - 1)
            if math.isinf(upper):
                return round(lower, 3)
            return round(lower * float((upper / lower) ** share), 3)
        seen += count
    return round(upper_bound_ms(_LAST_BOUNDED), 3)  # unreachable: the ranks add up to total


def percentiles(counts: Sequence[int]) -> dict[str, float | None]:
    """p50, p95 and p99 in milliseconds (None each when nothing was measured)."""
    return {f"p{round(q * 100)}": percentile(counts, q) for q in PERCENTILES}
