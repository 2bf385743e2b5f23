"""The marketing window and promotion timing at pinned instants: both sides of every boundary, holidays and both
nights when daylight saving time changes in Brussels (29 March and 25 October 2026)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from geofences.rules import Facts, Outcome, Promotion, decide, local_day_start
from lbs.messaging.rules import local_day, next_marketing_slot

BXL = ZoneInfo("Europe/Brussels")


def bxl(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=BXL).replace(fold=fold)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


TUESDAY_10 = bxl(2026, 12, 1, 10, 0)
TUESDAY_2159 = bxl(2026, 12, 1, 21, 59, 59)
TUESDAY_22 = bxl(2026, 12, 1, 22, 0)
SATURDAY_2330 = bxl(2026, 12, 5, 23, 30)
CHRISTMAS_10 = bxl(2026, 12, 25, 10, 0)  # a Friday, a public holiday


@pytest.mark.parametrize(
    ("now", "is_open", "slot"),
    [
        (TUESDAY_10, True, TUESDAY_10),
        (bxl(2026, 12, 1, 7, 59, 59), False, bxl(2026, 12, 1, 8, 0)),
        (bxl(2026, 12, 1, 8, 0), True, bxl(2026, 12, 1, 8, 0)),
        (TUESDAY_2159, True, TUESDAY_2159),
        (TUESDAY_22, False, bxl(2026, 12, 2, 8, 0)),
        (SATURDAY_2330, False, bxl(2026, 12, 7, 8, 0)),
        (CHRISTMAS_10, False, bxl(2026, 12, 28, 8, 0)),  # Christmas Friday, then the weekend
        # Spring forward: 02:00 CET becomes 03:00 CEST on Sunday 29 March. Friday night waits for Monday 08:00 CEST.
        (bxl(2026, 3, 27, 22, 0), False, utc(2026, 3, 30, 6, 0)),
        (bxl(2026, 3, 29, 1, 59, 59), False, utc(2026, 3, 30, 6, 0)),
        (bxl(2026, 3, 29, 3, 0), False, utc(2026, 3, 30, 6, 0)),
        (utc(2026, 3, 30, 5, 59, 59), False, utc(2026, 3, 30, 6, 0)),  # Monday 07:59:59 CEST
        (utc(2026, 3, 30, 6, 0), True, utc(2026, 3, 30, 6, 0)),  # Monday 08:00 CEST
        # Fall back: 03:00 CEST becomes 02:00 CET on Sunday 25 October; 02:30 happens twice.
        (bxl(2026, 10, 25, 2, 30, fold=0), False, utc(2026, 10, 26, 7, 0)),
        (bxl(2026, 10, 25, 2, 30, fold=1), False, utc(2026, 10, 26, 7, 0)),
        (utc(2026, 10, 26, 6, 59, 59), False, utc(2026, 10, 26, 7, 0)),  # Monday 07:59:59 CET
        (utc(2026, 10, 26, 7, 0), True, utc(2026, 10, 26, 7, 0)),  # Monday 08:00 CET
        (utc(2026, 10, 23, 19, 59, 59), True, utc(2026, 10, 23, 19, 59, 59)),  # Friday 21:59:59 CEST
        (utc(2026, 10, 23, 20, 0), False, utc(2026, 10, 26, 7, 0)),  # Friday 22:00 CEST
    ],
)
def test_marketing_window(now: datetime, is_open: bool, slot: datetime) -> None:
    assert (next_marketing_slot(now, "BE") == now) is is_open
    assert next_marketing_slot(now, "BE") == slot


def test_the_local_day_across_daylight_saving_nights() -> None:
    # One marketing SMS per brand and local day: the day turns at local midnight, whatever the offset.
    assert local_day(utc(2026, 3, 28, 22, 59, 59)).isoformat() == "2026-03-28"  # 23:59:59 CET
    assert local_day(utc(2026, 3, 28, 23, 0)).isoformat() == "2026-03-29"
    assert local_day(utc(2026, 3, 29, 21, 59, 59)).isoformat() == "2026-03-29"  # 23:59:59 CEST
    assert local_day(utc(2026, 3, 29, 22, 0)).isoformat() == "2026-03-30"
    assert local_day(utc(2026, 10, 25, 22, 59, 59)).isoformat() == "2026-10-25"  # 23:59:59 CET
    assert local_day(utc(2026, 10, 25, 23, 0)).isoformat() == "2026-10-26"


PROMO = Promotion(
    id=1,
    application="PROMOCITY",
    brand="PROMOCITY",
    trigger="enter",
    status="active",
    valid_from=utc(2026, 1, 1),
    valid_until=utc(2027, 1, 1),
    days="1234567",
    hours_from=time(9, 0),
    hours_until=time(20, 0),
    cap_count=1,
    cap_period="day",
)


def facts(now: datetime) -> Facts:
    """Everything allows, and the marketing window is whatever the rule says at ``now``."""
    return Facts(
        now=now,
        geofencing_allowed=True,
        marketing_allowed=True,
        opted_out=False,
        subscriber_sends=0,
        promotion_sends=0,
        promotion_spent_minor=0,
        price_minor=5,
        marketing_open=next_marketing_slot(now, "BE") == now,
    )


@pytest.mark.parametrize(
    ("now", "outcome"),
    [
        (TUESDAY_10, Outcome.FIRED),
        (bxl(2026, 12, 1, 8, 59, 59), Outcome.OFF_HOURS),  # the promotion's own hours start at 09:00
        (bxl(2026, 12, 1, 20, 0), Outcome.FIRED),
        (bxl(2026, 12, 1, 20, 0, 1), Outcome.OFF_HOURS),
        (SATURDAY_2330, Outcome.OFF_HOURS),
        (bxl(2026, 12, 5, 10, 0), Outcome.QUIET_HOURS),  # the promotion runs on Saturday; marketing does not
        (CHRISTMAS_10, Outcome.QUIET_HOURS),
        (bxl(2026, 3, 30, 9, 0), Outcome.FIRED),  # Monday after spring forward: 09:00 CEST = 07:00 UTC
        (utc(2026, 3, 30, 6, 59, 59), Outcome.OFF_HOURS),  # 08:59:59 CEST (it would be 07:59:59 in winter)
        (utc(2026, 10, 26, 8, 0), Outcome.FIRED),  # Monday after fall back: 09:00 CET = 08:00 UTC
        (utc(2026, 10, 26, 7, 59, 59), Outcome.OFF_HOURS),  # 08:59:59 CET (it would be 09:59:59 in summer)
        (utc(2026, 12, 31, 23, 59, 59), Outcome.OFF_HOURS),
        (utc(2027, 1, 1), Outcome.ENDED),
        (utc(2025, 12, 31, 23, 59, 59), Outcome.NOT_STARTED),
    ],
)
def test_promotion_timing(now: datetime, outcome: Outcome) -> None:
    assert decide(PROMO, "enter", facts(now)) is outcome


def test_weekday_only_promotion_on_the_daylight_saving_sunday() -> None:
    weekdays = replace(PROMO, days="12345", hours_from=time(0, 0), hours_until=time(23, 59, 59))
    # 23:30 UTC on Sunday 29 March is already Monday 01:30 CEST in Brussels: a weekday, but out of marketing hours.
    assert decide(weekdays, "enter", facts(utc(2026, 3, 29, 21, 59, 59))) is Outcome.OFF_DAY
    assert decide(weekdays, "enter", facts(utc(2026, 3, 29, 22, 0))) is Outcome.QUIET_HOURS


def test_day_caps_restart_at_local_midnight_across_daylight_saving() -> None:
    assert local_day_start(PROMO, utc(2026, 3, 29, 12, 0)) == utc(2026, 3, 28, 23, 0)  # midnight CET
    assert local_day_start(PROMO, utc(2026, 3, 30, 12, 0)) == utc(2026, 3, 29, 22, 0)  # midnight CEST
    assert local_day_start(PROMO, utc(2026, 10, 25, 12, 0)) == utc(2026, 10, 24, 22, 0)  # midnight CEST
    assert local_day_start(PROMO, utc(2026, 10, 26, 12, 0)) == utc(2026, 10, 25, 23, 0)  # midnight CET
    assert local_day_start(PROMO, TUESDAY_10 + timedelta(hours=14)) == bxl(2026, 12, 2, 0, 0)
