"""How long the delivery engine waits between tries of one delivery.

Exponential back-off with jitter: the jitter spreads the retries of many messages that
failed together (an endpoint restart) so they do not all come back at the same instant.
"""

from __future__ import annotations

import random

from exchange.routing.model import RetryPolicy

_shared_rng = random.Random()


def backoff_delay(policy: RetryPolicy, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after try ``attempt`` failed, before try ``attempt + 1``.

    ``initial_backoff * multiplier ** (attempt - 1)``, capped at ``max_backoff``, then moved
    by up to ± ``jitter`` of itself; never negative.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be 1 or more, got {attempt}")
    try:
        base = policy.initial_backoff * policy.multiplier ** (attempt - 1)
    except OverflowError:  # a huge attempt number: the cap applies anyway
        base = policy.max_backoff
    base = min(base, policy.max_backoff)
    if policy.jitter:
        spread = base * policy.jitter
        base += (rng or _shared_rng).uniform(-spread, spread)
    return max(base, 0.0)


def retry_delay(
    policy: RetryPolicy,
    attempt: int,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Like ``backoff_delay``, but never sooner than the receiver asked (``retry_after``).

    The receiver's wish is itself capped at ``max_backoff``: the endpoint's owner sets the
    longest single wait, so a receiver answering ``Retry-After: 86400`` cannot park the
    delivery for a day; the engine's attempt budget decides when to dead-letter instead.
    """
    delay = backoff_delay(policy, attempt, rng)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, policy.max_backoff))
    return delay
