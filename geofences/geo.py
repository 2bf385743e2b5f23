"""Small geodesy helpers shared by the fence model, the index and the transitions.

Distances use a local equirectangular plane (x = Δlon·cos(φ0)·k, y = Δlat·k with k metres per degree on the
mean-radius sphere). For the fences we hold (radius ≤ a few tens of km) the error against the geodesic is below
0.1 %, far under any position accuracy; it keeps every distance test a few float operations, vectorisable in numpy.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

# Mean Earth radius (IUGG) in metres, and metres per degree of arc on that sphere.
EARTH_RADIUS_M = 6_371_008.8
M_PER_DEG = math.pi / 180.0 * EARTH_RADIUS_M

FloatArray = npt.NDArray[np.float64]


def metres_to_dlat(metres: float) -> float:
    """Degrees of latitude spanning ``metres``."""
    return metres / M_PER_DEG


def metres_to_dlon(metres: float, lat: float) -> float:
    """Degrees of longitude spanning ``metres`` at latitude ``lat`` (not near a pole)."""
    return metres / (M_PER_DEG * math.cos(math.radians(lat)))


def local_xy(lon: FloatArray, lat: FloatArray, lon0: float, lat0: float) -> tuple[FloatArray, FloatArray]:
    """Metres east and north of (lon0, lat0) in the local equirectangular plane."""
    coslat = math.cos(math.radians(lat0))
    return (lon - lon0) * (coslat * M_PER_DEG), (lat - lat0) * M_PER_DEG


def segment_distance_m(lon: float, lat: float, x0: FloatArray, y0: FloatArray, x1: FloatArray, y1: FloatArray) -> float:
    """Shortest distance in metres from (lon, lat) to any of the segments (x0, y0)-(x1, y1) given in lon/lat."""
    ax, ay = local_xy(x0, y0, lon, lat)
    bx, by = local_xy(x1, y1, lon, lat)
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(length2 > 0, -(ax * dx + ay * dy) / length2, 0.0)
    t = np.clip(t, 0.0, 1.0)
    px, py = ax + t * dx, ay + t * dy
    return float(np.sqrt(np.min(px * px + py * py))) if len(px) else math.inf
