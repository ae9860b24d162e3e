"""Circuit breaker: stop calling an endpoint that keeps failing, probe it now and then.

Without it, a receiver that is down costs every message its full timeout and its retries,
and the backlog of every other endpoint on the same worker grows behind it.

    closed ──N consecutive failures──▶ open ──cool-down elapsed──▶ half-open
      ▲                                  ▲                            │ one trial
      └──────────── trial succeeds ──────┼──────── trial fails ───────┘

The engine asks ``allow()`` before each send and reports the outcome; when ``allow()`` says
no, ``retry_after()`` says how long until it may say yes.  An endpoint's ``breaker:`` settings
(``BreakerPolicy``: ``failures`` is N, ``cooldown`` the seconds open) make its breaker
(``CircuitBreaker.for_policy``); the defaults here are the policy's.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from exchange.routing.model import BreakerPolicy

Clock = Callable[[], float]


class BreakerState(enum.StrEnum):
    CLOSED = "closed"  # deliveries flow
    OPEN = "open"  # deliveries wait for the cool-down
    HALF_OPEN = "half-open"  # one trial delivery decides


class CircuitBreaker:
    """Breaker of one endpoint; not thread-safe, meant for one event loop."""

    def __init__(
        self,
        failure_threshold: int = 5,
        cooldown: float = 30.0,
        clock: Clock = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be 1 or more, got {failure_threshold}")
        if cooldown <= 0:
            raise ValueError(f"cooldown must be positive seconds, got {cooldown}")
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        # When the half-open trial was let through, or None while nobody holds it.
        self._trial_since: float | None = None

    @classmethod
    def for_policy(cls, policy: BreakerPolicy, clock: Clock = time.monotonic) -> CircuitBreaker:
        """The breaker an endpoint's ``breaker:`` settings ask for."""
        return cls(policy.failures, policy.cooldown, clock)

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.cooldown:
            self._state = BreakerState.HALF_OPEN
            self._trial_since = None
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def allow(self) -> bool:
        """May a delivery be sent now?  In half-open, says yes to one caller only.

        A trial whose outcome is never reported (its task was cancelled) is given up after
        one cool-down, so the breaker cannot stay stuck in half-open.
        """
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN:
            return False
        now = self._clock()
        if self._trial_since is None or now - self._trial_since >= self.cooldown:
            self._trial_since = now
            return True
        return False

    def record_success(self) -> None:
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._trial_since = None

    def record_failure(self) -> None:
        state = self.state
        if state is BreakerState.HALF_OPEN:
            self._open()
        elif state is BreakerState.CLOSED:
            self._failures += 1
            if self._failures >= self.failure_threshold:
                self._open()
        # Already open: a send that started before opening failed late; the cool-down
        # keeps its original end rather than being pushed back by stragglers.

    def retry_after(self) -> float:
        """Seconds until ``allow()`` can say yes again (0 if it would now)."""
        state = self.state
        now = self._clock()
        if state is BreakerState.OPEN:
            return max(self._opened_at + self.cooldown - now, 0.0)
        if state is BreakerState.HALF_OPEN and self._trial_since is not None:
            return max(self._trial_since + self.cooldown - now, 0.0)
        return 0.0

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._trial_since = None

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(state={self.state.value}, failures={self._failures}, "
            f"threshold={self.failure_threshold}, cooldown={self.cooldown})"
        )


class CircuitBreakers:
    """One breaker per endpoint name, created on first use with shared settings."""

    def __init__(
        self,
        failure_threshold: int = 5,
        cooldown: float = 30.0,
        clock: Clock = time.monotonic,
    ) -> None:
        # Build one now so bad settings fail here, not at the first delivery.
        CircuitBreaker(failure_threshold, cooldown, clock)
        self._settings = (failure_threshold, cooldown, clock)
        self._breakers: dict[str, CircuitBreaker] = {}

    def __getitem__(self, endpoint: str) -> CircuitBreaker:
        breaker = self._breakers.get(endpoint)
        if breaker is None:
            breaker = self._breakers[endpoint] = CircuitBreaker(*self._settings)
        return breaker

    def states(self) -> dict[str, BreakerState]:
        """Every known endpoint's state, for dashboards."""
        return {name: breaker.state for name, breaker in self._breakers.items()}
