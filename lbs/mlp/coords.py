"""Coordinate and time formats of MLP 3.x.

WGS84 coordinates travel as ``<X>`` (latitude) and ``<Y>`` (longitude), either in degrees-minutes-seconds with a
hemisphere letter (``50 50 48.012N``, ``4 21 09.600E``), degrees and decimal minutes (``50 50.8002N``) or decimal
degrees (``50.846670``, ``-4.3526``, ``50.84667N``). Times are ``YYYYMMDDhhmmss`` with a ``utc_off`` attribute
(``+0100``, ``-0500``, ``0000``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

CoordFormat = Literal["DMS", "DECIMAL"]

_DMS = re.compile(r"^(\d{1,3})\s+(\d{1,2})\s+(\d{1,2}(?:\.\d+)?)\s*([NSEW])$")
_DM = re.compile(r"^(\d{1,3})\s+(\d{1,2}(?:\.\d+)?)\s*([NSEW])$")
_DEC = re.compile(r"^([+-]?\d{1,3}(?:\.\d+)?)\s*([NSEW])?$")
_UTC_OFF = re.compile(r"^([+-]?)(\d{2})(\d{2})$")
_TIME_FMT = "%Y%m%d%H%M%S"


class CoordError(ValueError):
    """A coordinate or time string the spec does not allow."""


def parse_ordinate(text: str, axis: Literal["lat", "lon"]) -> float:
    """Read one ordinate in any of the MLP formats; raise :class:`CoordError` when out of range or malformed."""
    raw = text.strip().upper()
    value, hemi = _match_ordinate(raw)
    if hemi is not None:
        if (axis == "lat") != (hemi in "NS"):
            raise CoordError(f"hemisphere {hemi} does not fit a {axis}: {text!r}")
        if hemi in "SW":
            value = -value
    limit = 90.0 if axis == "lat" else 180.0
    if not -limit <= value <= limit:
        raise CoordError(f"{axis} out of range: {text!r}")
    return value


def _match_ordinate(raw: str) -> tuple[float, str | None]:
    if m := _DMS.match(raw):
        minutes, seconds = float(m.group(2)), float(m.group(3))
        if minutes >= 60 or seconds >= 60:
            raise CoordError(f"minutes or seconds >= 60: {raw!r}")
        return float(m.group(1)) + minutes / 60 + seconds / 3600, m.group(4)
    if m := _DM.match(raw):
        minutes = float(m.group(2))
        if minutes >= 60:
            raise CoordError(f"minutes >= 60: {raw!r}")
        return float(m.group(1)) + minutes / 60, m.group(3)
    if m := _DEC.match(raw):
        return float(m.group(1)), m.group(2)
    raise CoordError(f"not an MLP coordinate: {raw!r}")


def format_ordinate(value: float, axis: Literal["lat", "lon"], fmt: CoordFormat = "DMS") -> str:
    """Write one ordinate: DMS with hemisphere (the spec's examples) or decimal degrees (6 places, ~0.1 m)."""
    if fmt == "DECIMAL":
        return f"{value:.6f}"
    hemi = ("N" if value >= 0 else "S") if axis == "lat" else ("E" if value >= 0 else "W")
    total = round(abs(value) * 3_600_000)  # milliseconds of arc, so rounding never yields 60 seconds
    degrees, rest = divmod(total, 3_600_000)
    minutes, millis = divmod(rest, 60_000)
    return f"{degrees} {minutes:02d} {millis // 1000:02d}.{millis % 1000:03d}{hemi}"


def parse_time(text: str, utc_off: str | None = None) -> datetime:
    """Read ``YYYYMMDDhhmmss`` plus ``utc_off`` into an aware UTC datetime."""
    t = text.strip()
    if len(t) != 14 or not t.isdigit():
        raise CoordError(f"not an MLP time: {text!r}")
    try:  # by hand: strptime is the slowest part of reading a pushed report
        naive = datetime(int(t[:4]), int(t[4:6]), int(t[6:8]), int(t[8:10]), int(t[10:12]), int(t[12:]))
    except ValueError:
        raise CoordError(f"not an MLP time: {text!r}") from None
    return naive.replace(tzinfo=_offset(utc_off or "0000")).astimezone(UTC)


def _offset(utc_off: str) -> timezone:
    m = _UTC_OFF.match(utc_off.strip())
    if not m:
        raise CoordError(f"not an MLP utc_off: {utc_off!r}")
    delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
    return timezone(-delta if m.group(1) == "-" else delta)


def format_time(moment: datetime) -> tuple[str, str]:
    """Write an aware datetime as (``YYYYMMDDhhmmss`` in UTC, ``utc_off``)."""
    return moment.astimezone(UTC).strftime(_TIME_FMT), "0000"
