"""A seeded subscriber population moving through a city: deterministic for a seed and a time.

Each subscriber has a home and a work anchor in the city box and a daily phase offset. Commuters (weekdays) are
at home at night, commute at 07:00 and 17:00 (local, UTC+1), work in between with a lunch walk, and take an evening
walk; the others stay around home. Positions are a pure function of (seed, index, time), so a million subscribers
cost nothing until someone asks where they are.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime

from les_simulator.les.rand import unit

# Belgian operator: MCC 206, MNC 10; the MSIN is the subscriber index.
IMSI_PREFIX = "20610"
_M_PER_DEG_LAT = 111_320.0
_LOCAL_OFFSET_S = 3_600  # Brussels winter time; the model only needs a plausible day shape
_COMMUTER_SHARE = 0.8
# Profiles are cheap to recompute (~5 us); the cache is bounded so a 1,000,000-subscriber run stays small.
_PROFILE_CACHE_MAX = 262_144


@dataclass(frozen=True, slots=True)
class Profile:
    """The fixed traits of one subscriber."""

    index: int
    home: tuple[float, float]  # (lat, lon)
    work: tuple[float, float]
    phase_s: int
    commuter: bool


def offset_m(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """The point ``north_m``/``east_m`` metres from (lat, lon) (equirectangular, fine below ~50 km)."""
    dlat = north_m / _M_PER_DEG_LAT
    dlon = east_m / (_M_PER_DEG_LAT * max(0.01, math.cos(math.radians(lat))))
    return lat + dlat, lon + dlon


def _lerp(a: tuple[float, float], b: tuple[float, float], f: float) -> tuple[float, float]:
    return a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f


def _loop(centre: tuple[float, float], radius_m: float, f: float) -> tuple[float, float]:
    """A walk around ``centre``: out, a circle, back, with a pause at the far point."""
    if f < 0.2 or f > 0.8:  # walking out / back along the radius
        r = radius_m * (f / 0.2 if f < 0.2 else (1 - f) / 0.2)
        return offset_m(*centre, r, 0.0)
    if 0.45 <= f <= 0.55:  # a pause (a bench, a shop)
        return offset_m(*centre, 0.0, -radius_m)
    angle = (f - 0.2) / 0.6 * 2 * math.pi
    return offset_m(*centre, radius_m * math.cos(angle), -radius_m * math.sin(angle))


class Population:
    """The emulated subscribers: numbering, profiles and true positions at any time."""

    def __init__(self, seed: int, size: int, first_msisdn: str, bbox: tuple[float, float, float, float]) -> None:
        self.seed = seed
        self.size = size
        self.first_msisdn = first_msisdn
        self._first = int(first_msisdn.lstrip("+"))
        self.bbox = bbox
        self._profiles: dict[int, Profile] = {}

    # --- numbering ---------------------------------------------------------------------------------------------

    def index_of_msisdn(self, msisdn: str) -> int | None:
        """The subscriber index of an MSISDN (with or without '+'), or None when not ours."""
        digits = msisdn.strip().lstrip("+")
        if not digits.isdigit():
            return None
        index = int(digits) - self._first
        return index if 0 <= index < self.size else None

    def index_of_imsi(self, imsi: str) -> int | None:
        """The subscriber index of an IMSI, or None when not ours."""
        text = imsi.strip()
        if not (text.startswith(IMSI_PREFIX) and text.isdigit() and len(text) == 15):
            return None
        index = int(text[len(IMSI_PREFIX) :])
        return index if index < self.size else None

    def msisdn(self, index: int) -> str:
        """E.164 MSISDN of subscriber ``index``."""
        return f"+{self._first + index}"

    def imsi(self, index: int) -> str:
        """IMSI of subscriber ``index``."""
        return f"{IMSI_PREFIX}{index:010d}"

    # --- movement ----------------------------------------------------------------------------------------------

    def profile(self, index: int) -> Profile:
        """The subscriber's anchors and habits (cached)."""
        prof = self._profiles.get(index)
        if prof is None:
            if len(self._profiles) >= _PROFILE_CACHE_MAX:
                self._profiles.clear()
            prof = self._profiles[index] = self._make_profile(index)
        return prof

    def _make_profile(self, index: int) -> Profile:
        rng = random.Random(self.seed * 1_000_003 + index)
        min_lon, min_lat, max_lon, max_lat = self.bbox
        home = (rng.uniform(min_lat, max_lat), rng.uniform(min_lon, max_lon))
        work = (rng.uniform(min_lat, max_lat), rng.uniform(min_lon, max_lon))
        return Profile(index, home, work, rng.randint(-3_600, 3_600), rng.random() < _COMMUTER_SHARE)

    def true_position(self, index: int, at: datetime) -> tuple[float, float]:
        """Where subscriber ``index`` really is at ``at`` (aware datetime)."""
        prof = self.profile(index)
        stamp = int(at.timestamp()) + _LOCAL_OFFSET_S + prof.phase_s
        day_s = stamp % 86_400
        weekday = (stamp // 86_400 + 3) % 7  # 1970-01-01 was a Thursday; 5, 6 = Saturday, Sunday
        work = prof.work if prof.commuter and weekday < 5 else prof.home
        return _day_position(prof.home, work, day_s / 3_600)

    def is_absent(self, index: int, at: datetime, share: float) -> bool:
        """Whether the handset is off this hour (deterministic per subscriber and hour)."""
        return unit(self.seed, index, int(at.timestamp()) // 3_600) < share


def _day_position(home: tuple[float, float], work: tuple[float, float], h: float) -> tuple[float, float]:
    """The daily routine, by local hour ``h``."""
    if 7 <= h < 8:
        return _lerp(home, work, h - 7)
    if 8 <= h < 12 or 13 <= h < 17:
        return work
    if 12 <= h < 13:
        return _loop(work, 300.0, h - 12)
    if 17 <= h < 18:
        return _lerp(work, home, h - 17)
    if 19 <= h < 20:
        return _loop(home, 500.0, h - 19)
    return home
