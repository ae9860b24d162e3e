"""CircuitBreaker state transitions, driven by a fake clock."""

from __future__ import annotations

import pytest

from exchange.egress import BreakerState, CircuitBreaker, CircuitBreakers
from exchange.routing.model import BreakerPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=5, cooldown=30.0, clock=clock)


def state(breaker: CircuitBreaker) -> BreakerState:
    """Read through a call, so type checkers do not carry narrowing across transitions."""
    return breaker.state


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert breaker.allow()
        breaker.record_failure()


def test_defaults() -> None:
    breaker = CircuitBreaker()
    assert (breaker.failure_threshold, breaker.cooldown) == (5, 30.0)
    assert breaker.state is BreakerState.CLOSED


def test_starts_closed_and_lets_everything_through(breaker: CircuitBreaker) -> None:
    assert breaker.state is BreakerState.CLOSED
    assert all(breaker.allow() for _ in range(100))
    assert breaker.retry_after() == 0.0


def test_opens_after_threshold_consecutive_failures(breaker: CircuitBreaker) -> None:
    fail(breaker, 4)
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.consecutive_failures == 4
    fail(breaker, 1)
    assert state(breaker) is BreakerState.OPEN
    assert not breaker.allow()
    assert breaker.retry_after() == 30.0


def test_a_success_resets_the_count(breaker: CircuitBreaker) -> None:
    fail(breaker, 4)
    breaker.record_success()
    fail(breaker, 4)
    assert breaker.state is BreakerState.CLOSED


def test_stays_open_for_the_cooldown(breaker: CircuitBreaker, clock: FakeClock) -> None:
    fail(breaker, 5)
    clock.advance(29.5)
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    assert breaker.retry_after() == pytest.approx(0.5)


def test_half_open_lets_exactly_one_trial_through(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    fail(breaker, 5)
    clock.advance(30.0)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.retry_after() == 0.0
    assert breaker.allow()
    assert not breaker.allow()
    assert not breaker.allow()
    assert breaker.retry_after() == 30.0


def test_trial_success_closes(breaker: CircuitBreaker, clock: FakeClock) -> None:
    fail(breaker, 5)
    clock.advance(31)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0
    assert all(breaker.allow() for _ in range(10))


def test_trial_failure_reopens_for_a_full_cooldown(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    fail(breaker, 5)
    clock.advance(31)
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_after() == 30.0
    clock.advance(29)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()


def test_a_trial_that_never_reports_is_given_up_after_a_cooldown(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    fail(breaker, 5)
    clock.advance(30)
    assert breaker.allow()  # this trial's task is then cancelled: no outcome reported
    clock.advance(29)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()


def test_late_failures_do_not_extend_the_cooldown(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    fail(breaker, 5)
    clock.advance(20)
    breaker.record_failure()  # a send that started before the breaker opened
    assert breaker.retry_after() == 10.0


@pytest.mark.parametrize(("threshold", "cooldown"), [(0, 30.0), (5, 0.0), (5, -1.0)])
def test_bad_settings_are_refused(threshold: int, cooldown: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=threshold, cooldown=cooldown)


def test_one_breaker_per_endpoint(clock: FakeClock) -> None:
    breakers = CircuitBreakers(failure_threshold=2, cooldown=5.0, clock=clock)
    assert breakers["tax-in"] is breakers["tax-in"]
    fail(breakers["tax-in"], 2)
    assert breakers["tax-in"].state is BreakerState.OPEN
    assert breakers["social-in"].state is BreakerState.CLOSED
    assert breakers.states() == {"tax-in": BreakerState.OPEN, "social-in": BreakerState.CLOSED}
    clock.advance(5)
    assert breakers.states()["tax-in"] is BreakerState.HALF_OPEN


def test_breakers_refuse_bad_settings_up_front() -> None:
    with pytest.raises(ValueError):
        CircuitBreakers(failure_threshold=0)


def test_an_endpoints_policy_sets_threshold_and_cooldown(clock: FakeClock) -> None:
    breaker = CircuitBreaker.for_policy(BreakerPolicy(failures=2, cooldown=0.5), clock)
    fail(breaker, 2)
    assert state(breaker) is BreakerState.OPEN
    assert breaker.retry_after() == 0.5
    clock.advance(0.5)
    assert breaker.allow()
