"""backoff_delay / retry_delay: growth, cap, jitter bounds, determinism with a seeded rng."""

from __future__ import annotations

import random

import pytest

from exchange.egress import backoff_delay, retry_delay
from exchange.routing.model import RetryPolicy

STEADY = RetryPolicy(initial_backoff=0.5, multiplier=2.0, max_backoff=30.0, jitter=0.0)


def test_grows_exponentially_then_caps() -> None:
    delays = [backoff_delay(STEADY, attempt) for attempt in range(1, 10)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_multiplier_one_is_constant() -> None:
    policy = RetryPolicy(initial_backoff=3.0, multiplier=1.0, jitter=0.0)
    assert {backoff_delay(policy, a) for a in range(1, 20)} == {3.0}


@pytest.mark.parametrize("seed", range(20))
def test_jitter_stays_within_its_fraction(seed: int) -> None:
    policy = RetryPolicy(initial_backoff=1.0, multiplier=3.0, max_backoff=60.0, jitter=0.25)
    rng = random.Random(seed)
    for attempt in range(1, 8):
        base = min(1.0 * 3.0 ** (attempt - 1), 60.0)
        delay = backoff_delay(policy, attempt, rng)
        assert base * 0.75 <= delay <= base * 1.25


def test_jitter_actually_spreads_the_delays() -> None:
    policy = RetryPolicy(initial_backoff=1.0, jitter=0.2)
    rng = random.Random(7)
    delays = {backoff_delay(policy, 1, rng) for _ in range(50)}
    assert len(delays) > 40
    assert min(delays) < 0.9 and max(delays) > 1.1


def test_same_seed_same_delays() -> None:
    policy = RetryPolicy()
    first = [backoff_delay(policy, a, random.Random(42)) for a in range(1, 6)]
    second = [backoff_delay(policy, a, random.Random(42)) for a in range(1, 6)]
    assert first == second


def test_full_jitter_is_never_negative() -> None:
    policy = RetryPolicy(initial_backoff=0.1, jitter=1.0)
    rng = random.Random(3)
    assert all(backoff_delay(policy, 1, rng) >= 0.0 for _ in range(500))


def test_cap_applies_before_jitter_and_to_huge_attempts() -> None:
    policy = RetryPolicy(initial_backoff=1.0, multiplier=10.0, max_backoff=5.0, jitter=0.1)
    rng = random.Random(1)
    for attempt in (3, 50, 100, 10_000):
        assert 4.5 <= backoff_delay(policy, attempt, rng) <= 5.5


def test_attempt_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempt"):
        backoff_delay(STEADY, 0)


def test_retry_delay_waits_at_least_what_the_receiver_asked() -> None:
    assert retry_delay(STEADY, 1, retry_after=7.0) == 7.0
    assert retry_delay(STEADY, 5, retry_after=1.0) == 8.0  # backoff is already longer
    assert retry_delay(STEADY, 1, retry_after=None) == 0.5
    assert retry_delay(STEADY, 1, retry_after=0.0) == 0.5


def test_retry_delay_caps_the_receivers_wish_at_max_backoff() -> None:
    assert retry_delay(STEADY, 1, retry_after=86_400.0) == 30.0
