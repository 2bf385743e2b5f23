"""The platform's clock: real time by default, pinned (frozen or running) by a setting or a caller."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from lbs.clock import FrozenClock, RunningClock, clock_from, parse_instant, system_clock
from lbs.settings import Settings

AT = "2026-12-01T10:00+01:00"


def test_parse_instant_needs_an_offset() -> None:
    assert parse_instant(AT) == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_instant("2026-12-01T10:00")
    with pytest.raises(ValueError):
        parse_instant("next tuesday")


def test_frozen_clock_stands_still_until_moved() -> None:
    clock = FrozenClock(parse_instant(AT))
    assert clock() == clock() == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    clock.advance(90)
    assert clock() == datetime(2026, 12, 1, 9, 1, 30, tzinfo=UTC)
    clock.set(datetime(2026, 12, 5, 23, 30, tzinfo=UTC))
    assert clock().isoformat() == "2026-12-05T23:30:00+00:00"


def test_running_clock_ticks_from_its_start() -> None:
    ticks = iter([100.0, 100.0, 107.5])
    clock = RunningClock(parse_instant(AT), monotonic=lambda: next(ticks))
    assert clock() == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert clock() == datetime(2026, 12, 1, 9, 0, 7, 500_000, tzinfo=UTC)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        FrozenClock(datetime(2026, 12, 1, 10, 0))
    with pytest.raises(ValueError, match="aware"):
        RunningClock(datetime(2026, 12, 1, 10, 0))


def test_settings_choose_the_clock() -> None:
    assert clock_from("", frozen=False) is system_clock
    assert Settings().make_clock() is system_clock  # real time unless a setting pins it
    frozen = Settings(clock_at=AT, clock_frozen=True).make_clock()
    assert isinstance(frozen, FrozenClock) and frozen() == parse_instant(AT)
    running = Settings(clock_at=AT).make_clock()
    assert isinstance(running, RunningClock)
    assert timedelta(0) <= running() - parse_instant(AT) < timedelta(seconds=5)


def test_a_bad_clock_setting_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="clock_at"):
        Settings(clock_at="2026-12-01 10h")
    with pytest.raises(ValidationError, match="no UTC offset"):
        Settings(clock_at="2026-12-01T10:00")


def test_system_clock_is_aware_utc() -> None:
    assert system_clock().tzinfo is UTC
