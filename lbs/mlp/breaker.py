"""A small circuit breaker: after N consecutive failures, fail fast for a while, then let one call try."""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    """closed -> (threshold failures) -> open -> (reset_s elapsed) -> half-open -> one success closes it."""

    def __init__(self, threshold: int, reset_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = max(1, threshold)
        self.reset_s = reset_s
        self._clock = clock
        self.failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open``."""
        if self._opened_at is None:
            return "closed"
        return "half-open" if self._clock() - self._opened_at >= self.reset_s else "open"

    def allow(self) -> bool:
        """Whether a call may go out now (in half-open, only one trial call at a time)."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def success(self) -> None:
        """A call reached the LES and got an MLP answer."""
        self.failures = 0
        self._opened_at = None
        self._trial_running = False

    def failure(self) -> None:
        """A call failed at the transport level (connection, timeout, garbage)."""
        self.failures += 1
        self._trial_running = False
        if self.failures >= self.threshold or self._opened_at is not None:
            self._opened_at = self._clock()
