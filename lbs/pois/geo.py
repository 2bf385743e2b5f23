"""Spherical geometry for nearest-k: unit-sphere coordinates, great-circle distances, bearings (pure).

A k-d tree over unit-sphere (x, y, z) orders points by chord length, which orders them exactly like
great-circle distance, so no haversine is needed inside the search (``docs/performance.md``).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

# Mean Earth radius (IUGG), the sphere PostGIS geography distances approximate to within ~0.5 %.
EARTH_RADIUS_M: Final = 6_371_008.8

FloatArray = npt.NDArray[np.float64]


def to_unit_xyz(lat: FloatArray, lon: FloatArray) -> FloatArray:
    """Latitudes and longitudes in degrees -> an (n, 3) array of unit-sphere coordinates."""
    phi, lam = np.radians(lat), np.radians(lon)
    cos_phi = np.cos(phi)
    return np.column_stack((cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)))


def point_xyz(lat: float, lon: float) -> tuple[float, float, float]:
    """One point on the unit sphere."""
    phi, lam = math.radians(lat), math.radians(lon)
    return (math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi))


def chord_to_metres(chord: float) -> float:
    """Great-circle distance for a unit-sphere chord length."""
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, chord / 2.0))


def metres_to_chord(metres: float) -> float:
    """Unit-sphere chord length for a great-circle distance (capped at half the globe)."""
    return 2.0 * math.sin(min(math.pi / 2, metres / (2.0 * EARTH_RADIUS_M)))


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial bearing from point 1 to point 2, degrees clockwise from north in [0, 360)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


_COMPASS: Final = {
    "en": ("N", "NE", "E", "SE", "S", "SW", "W", "NW"),
    "fr": ("N", "NE", "E", "SE", "S", "SO", "O", "NO"),
    "nl": ("N", "NO", "O", "ZO", "Z", "ZW", "W", "NW"),
}


def compass(bearing: float, language: str = "en") -> str:
    """The 8-point compass direction of ``bearing`` in ``language`` (``NE``; French ``NO`` is north-west)."""
    points = _COMPASS.get(language, _COMPASS["en"])
    return points[round((bearing % 360.0) / 45.0) % 8]


def walking_distance(metres: float) -> str:
    """Rounded the way people say it: ``80 m``, ``350 m``, ``1.2 km``, ``12 km``.

    Under 100 m to 10 m, under 1 km to 50 m, under 10 km to 100 m, beyond to the km. ``950 m`` and more
    shows as ``1.0 km`` (never ``1000 m``).
    """
    if metres < 100:
        return f"{max(10, round(metres / 10) * 10)} m"
    if metres < 975:
        return f"{round(metres / 50) * 50} m"
    if metres < 9_950:
        return f"{round(metres / 100) / 10:.1f} km"
    return f"{round(metres / 1000)} km"
