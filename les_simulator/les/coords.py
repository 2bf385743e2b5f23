"""MLP 3.x coordinates and times as the LES reads and writes them.

A WGS84 ``<X>`` (latitude) or ``<Y>`` (longitude) is written in degrees, minutes and seconds with a hemisphere
letter (``50 50 48.012N``, the spec's examples) or in decimal degrees (``50.846670``); requests may also use
degrees and decimal minutes (``50 50.8002N``) or signed decimals. A time is ``YYYYMMDDhhmmss`` with a ``utc_off``
attribute (``+0100``, ``-0500``, ``0000``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

CoordFormat = Literal["DMS", "DECIMAL"]
Axis = Literal["lat", "lon"]

# degrees, then optional minutes, then optional seconds (each part may be decimal), then an optional hemisphere.
_SEXAGESIMAL = re.compile(r"^(\d{1,3})\s+(\d{1,2}(?:\.\d+)?)(?:\s+(\d{1,2}(?:\.\d+)?))?\s*([NSEW])$")
_DECIMAL = re.compile(r"^([+-]?\d{1,3}(?:\.\d+)?)\s*([NSEW])?$")
_UTC_OFF = re.compile(r"^([+-]?)(\d{2})(\d{2})$")
_LIMIT = {"lat": 90.0, "lon": 180.0}
_HEMISPHERES = {"lat": "NS", "lon": "EW"}
_MAS_PER_DEGREE = 3_600_000  # milliseconds of arc: DMS is written to the millisecond


class CoordError(ValueError):
    """A coordinate or time the MLP spec does not allow."""


def parse_ordinate(text: str, axis: Axis) -> float:
    """Read one ordinate in any MLP form; :class:`CoordError` when malformed or out of range."""
    raw = text.strip().upper()
    if m := _SEXAGESIMAL.match(raw):
        minutes, seconds = float(m.group(2)), float(m.group(3) or 0)
        if "." in m.group(2) and m.group(3) is not None:
            raise CoordError(f"not an MLP coordinate: {text!r}")
        if minutes >= 60 or seconds >= 60:
            raise CoordError(f"minutes or seconds >= 60: {text!r}")
        value, hemisphere = float(m.group(1)) + minutes / 60 + seconds / 3600, m.group(4)
    elif m := _DECIMAL.match(raw):
        value, hemisphere = float(m.group(1)), m.group(2)
    else:
        raise CoordError(f"not an MLP coordinate: {text!r}")
    if hemisphere is not None:
        if hemisphere not in _HEMISPHERES[axis]:
            raise CoordError(f"hemisphere {hemisphere} does not fit a {axis}: {text!r}")
        value = -value if hemisphere in "SW" else value
    if abs(value) > _LIMIT[axis]:
        raise CoordError(f"{axis} out of range: {text!r}")
    return value


def format_ordinate(value: float, axis: Axis, fmt: CoordFormat = "DMS") -> str:
    """Write one ordinate: DMS with hemisphere, or decimal degrees with 6 places (~0.1 m)."""
    if fmt == "DECIMAL":
        return f"{value:.6f}"
    hemisphere = _HEMISPHERES[axis][0 if value >= 0 else 1]
    # Round once, in whole milliseconds of arc, so that no carry can leave 60 seconds or 60 minutes.
    degrees, rest = divmod(round(abs(value) * _MAS_PER_DEGREE), _MAS_PER_DEGREE)
    minutes, millis = divmod(rest, 60_000)
    seconds, millis = divmod(millis, 1000)
    return f"{degrees} {minutes:02d} {seconds:02d}.{millis:03d}{hemisphere}"


def parse_time(text: str, utc_off: str | None = None) -> datetime:
    """Read ``YYYYMMDDhhmmss`` with its ``utc_off`` into an aware UTC datetime."""
    t = text.strip()
    if len(t) != 14 or not t.isdigit():
        raise CoordError(f"not an MLP time: {text!r}")
    m = _UTC_OFF.match((utc_off or "0000").strip())
    if not m:
        raise CoordError(f"not an MLP utc_off: {utc_off!r}")
    offset = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
    zone = timezone(-offset if m.group(1) == "-" else offset)
    try:
        local = datetime(int(t[:4]), int(t[4:6]), int(t[6:8]), int(t[8:10]), int(t[10:12]), int(t[12:]), tzinfo=zone)
    except ValueError:
        raise CoordError(f"not an MLP time: {text!r}") from None
    return local.astimezone(UTC)


def format_time(moment: datetime) -> tuple[str, str]:
    """Write an aware datetime as (``YYYYMMDDhhmmss`` in UTC, its ``utc_off`` ``0000``)."""
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S"), "0000"
