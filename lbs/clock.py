"""The platform's one source of "now".

Every rule that depends on the time of day, the weekday or a holiday (marketing window, promotion hours and caps,
consent expiry and pauses, prepaid validity, statement month, retention, CAMARA expiry) reads ``now`` from a
:data:`Clock` that the composition root builds once from the settings and passes in. Nothing below the entry
points calls ``datetime.now()`` itself, so tests and demos pin the time of every rule at once.

Monotonic timers used for timeouts and rates (``time.monotonic``, ``loop.time()``) are not clocks in this sense
and stay as they are.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""A callable returning the current instant as an aware UTC datetime."""


def system_clock() -> datetime:
    """Real time (the default clock)."""
    return datetime.now(UTC)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant with its offset (``2026-12-01T10:00+01:00``), as aware UTC; ValueError otherwise."""
    at = datetime.fromisoformat(text.strip())
    if at.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset: write e.g. 2026-12-01T10:00+01:00")
    return at.astimezone(UTC)


class FrozenClock:
    """Time that stands still at ``at`` until a test moves it with :meth:`set` or :meth:`advance`."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware instant")
        self.at = at.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        """Jump to ``at``."""
        self.at = at.astimezone(UTC)

    def advance(self, seconds: float) -> None:
        """Move forward ``seconds``."""
        self.at += timedelta(seconds=seconds)


class RunningClock:
    """Real time shifted so that it started at ``start``: it ticks at the wall clock's pace from that instant.

    The demo uses it (``lbs demo --at``) to play any hour of any day with every timer still running.
    """

    def __init__(self, start: datetime, monotonic: Callable[[], float] = time.monotonic) -> None:
        if start.tzinfo is None:
            raise ValueError("RunningClock needs an aware start instant")
        self.start = start.astimezone(UTC)
        self._monotonic = monotonic
        self._t0 = monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=self._monotonic() - self._t0)


def pinned(at: datetime, frozen: bool) -> Clock:
    """A clock pinned at ``at``: standing still there, or running on from it."""
    return FrozenClock(at) if frozen else RunningClock(at)


def clock_from(at: str, frozen: bool) -> Clock:
    """The clock the settings ask for: real time when ``at`` is empty, else pinned at ``at`` (frozen or running)."""
    return pinned(parse_instant(at), frozen) if at else system_clock
