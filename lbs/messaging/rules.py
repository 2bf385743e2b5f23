"""Marketing rules as pure functions: when a marketing MT may go out, and what it must say.

- Only on working days (Monday to Friday, public holidays of the subscriber's country excluded) between 08:00
  and 22:00 in the subscriber's time zone; outside that window the MT is deferred to the next opening.
- Every marketing MT ends with the opt-out mention in the subscriber's language, counted in its length.
- One marketing SMS per subscriber, brand and (local) day: enforced by the ``marketing_sends`` key.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

OPEN = time(8, 0)
CLOSE = time(22, 0)
# Belgian and French subscribers; extend with the operator's markets.
TIMEZONES = {"BE": "Europe/Brussels", "FR": "Europe/Paris", "NL": "Europe/Amsterdam", "LU": "Europe/Luxembourg"}
OPT_OUT = {"en": "STOP to {code}", "fr": "STOP au {code}", "nl": "STOP naar {code}"}


@lru_cache(maxsize=64)
def _holidays(country: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, years=year).keys())


def is_working_day(day: date, country: str) -> bool:
    """Monday to Friday and not a public holiday of ``country``."""
    return day.weekday() < 5 and day not in _holidays(country, day.year)


def next_marketing_slot(now: datetime, country: str = "BE") -> datetime:
    """``now`` if a marketing MT may go out now, else the next opening (aware datetime, same instant semantics)."""
    tz = ZoneInfo(TIMEZONES.get(country, "Europe/Brussels"))
    local = now.astimezone(tz)
    if is_working_day(local.date(), country) and OPEN <= local.time() < CLOSE:
        return now
    day = local.date() if local.time() < OPEN else local.date() + timedelta(days=1)
    while not is_working_day(day, country):
        day += timedelta(days=1)
    return datetime.combine(day, OPEN, tzinfo=tz).astimezone(now.tzinfo)


def local_day(now: datetime, country: str = "BE") -> date:
    """The subscriber's calendar day, for the one-per-brand-per-day rule."""
    return now.astimezone(ZoneInfo(TIMEZONES.get(country, "Europe/Brussels"))).date()


def with_opt_out(body: str, language: str, short_code: str) -> str:
    """The marketing text with its opt-out mention ("STOP au 3311") appended."""
    mention = OPT_OUT.get(language, OPT_OUT["en"]).format(code=short_code)
    return f"{body.rstrip()} {mention}"


def country_of(msisdn: str) -> str:
    """The subscriber's country from the E.164 prefix (the operator's markets; BE by default)."""
    prefixes = {"+32": "BE", "+33": "FR", "+31": "NL", "+352": "LU"}
    for prefix in sorted(prefixes, key=len, reverse=True):
        if msisdn.startswith(prefix):
            return prefixes[prefix]
    return "BE"
