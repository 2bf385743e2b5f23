"""Marketing windows, holidays, opt-out mention (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbs.messaging.gsm import segment_count
from lbs.messaging.rules import country_of, is_working_day, local_day, next_marketing_slot, with_opt_out

BXL = ZoneInfo("Europe/Brussels")


def bxl(*args: int) -> datetime:
    return datetime(*args, tzinfo=BXL)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("now", "slot"),
    [
        (bxl(2026, 11, 24, 10, 0), bxl(2026, 11, 24, 10, 0)),  # Tuesday 10:00: now
        (bxl(2026, 11, 24, 7, 59), bxl(2026, 11, 24, 8, 0)),  # before opening: 08:00 same day
        (bxl(2026, 11, 24, 22, 0), bxl(2026, 11, 25, 8, 0)),  # closing time: next morning
        (bxl(2026, 11, 27, 23, 0), bxl(2026, 11, 30, 8, 0)),  # Friday night: Monday
        (bxl(2026, 11, 28, 12, 0), bxl(2026, 11, 30, 8, 0)),  # Saturday: Monday
        (bxl(2026, 12, 24, 22, 30), bxl(2026, 12, 28, 8, 0)),  # Christmas (Fri) + weekend
        (bxl(2026, 11, 11, 9, 0), bxl(2026, 11, 12, 8, 0)),  # Armistice Day (BE holiday, Wednesday)
    ],
)
def test_next_marketing_slot_be(now: datetime, slot: datetime) -> None:
    assert next_marketing_slot(now, "BE") == slot


def test_france_has_its_own_holidays() -> None:
    # 14 July 2026 is a Tuesday: a French holiday, a Belgian working day.
    assert not is_working_day(bxl(2026, 7, 14, 0, 0).date(), "FR")
    assert is_working_day(bxl(2026, 7, 14, 0, 0).date(), "BE")
    assert next_marketing_slot(bxl(2026, 7, 14, 10, 0), "FR") == bxl(2026, 7, 15, 8, 0)


@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)))
def test_slot_is_never_earlier_and_always_inside_the_window(now: datetime) -> None:
    slot = next_marketing_slot(now, "BE")
    assert slot >= now
    local = slot.astimezone(BXL)
    assert is_working_day(local.date(), "BE")
    assert 8 <= local.hour < 22
    assert slot - now < timedelta(days=6)  # longest gap: a long weekend with holidays


def test_opt_out_mention_in_each_language_counts_in_length() -> None:
    assert with_opt_out("Promo -20%", "fr", "3311") == "Promo -20% STOP au 3311"
    assert with_opt_out("Sale", "en", "3311").endswith("STOP to 3311")
    assert with_opt_out("Korting", "nl", "3311").endswith("STOP naar 3311")
    body = "x" * 150
    assert segment_count(body) == 1 and segment_count(with_opt_out(body, "fr", "3311")) == 2


def test_local_day_and_country() -> None:
    assert local_day(datetime(2026, 11, 24, 23, 30, tzinfo=UTC)).isoformat() == "2026-11-25"
    assert country_of("+33612345678") == "FR" and country_of("+32470000001") == "BE"
