"""Fences: a GeoJSON Polygon or MultiPolygon, or a circle ``{center, radius_m}``, validated once at the edge.

Validation follows RFC 7946: positions are ``[lon, lat(, alt)]`` in WGS84 ranges, linear rings have at least four
positions and are closed; the right-hand rule is tolerated (we re-orient, as §3.1.6 asks of parsers). Geometric
validity is GEOS's: a self-intersecting ring is refused with the reason shapely gives, never silently "made valid".
Fences crossing the antimeridian are refused with a pointer to §3.1.9 (split them at ±180° into a MultiPolygon);
fences above 85° latitude are refused too, as the local metric plane (see :mod:`geofences.geo`) degrades there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon, mapping

from geofences.geo import M_PER_DEG, metres_to_dlat, metres_to_dlon
from lbs.errors import InvalidArgument

MAX_ABS_LAT = 85.0  # beyond this the equirectangular plane is too distorted for metre tests


class InvalidFence(InvalidArgument):
    """A fence the engine refuses; ``details["reason"]`` names the rule."""

    code = "INVALID_FENCE"


@dataclass(frozen=True, slots=True)
class Circle:
    """A metric circle around (lon, lat)."""

    lon: float
    lat: float
    radius_m: float

    def bounds(self) -> tuple[float, float, float, float]:
        """min_lon, min_lat, max_lon, max_lat of the circle (at the latitude where it is widest)."""
        dlat = metres_to_dlat(self.radius_m)
        dlon = metres_to_dlon(self.radius_m, min(abs(self.lat) + dlat, 89.9))
        return self.lon - dlon, self.lat - dlat, self.lon + dlon, self.lat + dlat


Area = Polygon | MultiPolygon
Shape = Circle | Area


@dataclass(frozen=True, slots=True)
class Fence:
    """One fence the engine indexes: an id (the promotion's or subscription's), its shape, an optional dwell."""

    id: int
    shape: Shape
    dwell_s: float | None = None


@dataclass(frozen=True, slots=True)
class FenceLimits:
    """What a provider may register (see the ``geofence_*`` settings)."""

    max_vertices: int = 1_000
    max_area_km2: float = 100.0
    min_radius_m: float = 10.0
    max_radius_m: float = 20_000.0


def _refuse(reason: str, message: str) -> InvalidFence:
    return InvalidFence(message, details={"reason": reason})


def parse_shape(data: object, limits: FenceLimits | None = None) -> Shape:
    """A validated fence shape from its JSON form, or :class:`InvalidFence` saying what is wrong."""
    limits = limits or FenceLimits()
    if not isinstance(data, Mapping):
        raise _refuse("not_an_object", "a fence is a GeoJSON Polygon/MultiPolygon or {center, radius_m}")
    kind = data.get("type")
    if "center" in data or "radius_m" in data or kind == "Circle":
        return parse_circle(data, limits)
    if kind == "Polygon":
        rings = _rings(data.get("coordinates"), "coordinates")
        return _check_area(Polygon(rings[0], rings[1:]), limits)
    if kind == "MultiPolygon":
        coords = data.get("coordinates")
        if not isinstance(coords, list) or not coords:
            raise _refuse("bad_coordinates", "coordinates: a MultiPolygon needs a non-empty array of polygons")
        parts = [_rings(p, f"coordinates[{i}]") for i, p in enumerate(coords)]
        return _check_area(MultiPolygon([(r[0], r[1:]) for r in parts]), limits)
    raise _refuse("unsupported_type", f"type: expected Polygon, MultiPolygon or a circle, got {kind!r}")


def parse_circle(data: Mapping[str, Any], limits: FenceLimits) -> Circle:
    """``{"center": [lon, lat], "radius_m": r}`` with the radius within the limits."""
    lon, lat = _position(data.get("center"), "center")
    radius = data.get("radius_m")
    if not isinstance(radius, int | float) or not _number(radius):
        raise _refuse("bad_radius", "radius_m: expected a number of metres")
    if not limits.min_radius_m <= radius <= limits.max_radius_m:
        raise _refuse(
            "radius_out_of_range", f"radius_m: {radius} is outside {limits.min_radius_m}..{limits.max_radius_m} m"
        )
    circle = Circle(lon, lat, float(radius))
    min_lon, min_lat, max_lon, max_lat = circle.bounds()
    if min_lon < -180 or max_lon > 180:
        raise _refuse("antimeridian", "the circle crosses the antimeridian; use two polygons split at ±180°")
    if min_lat < -MAX_ABS_LAT or max_lat > MAX_ABS_LAT:
        raise _refuse("polar", f"fences beyond ±{MAX_ABS_LAT}° latitude are not supported")
    return circle


def _position(value: object, where: str) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) not in (2, 3) or not all(_number(v) for v in value):
        raise _refuse("bad_position", f"{where}: a position is [longitude, latitude] (optionally altitude)")
    lon, lat = float(value[0]), float(value[1])
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise _refuse("out_of_range", f"{where}: [{lon}, {lat}] is outside WGS84 ranges (lon ±180, lat ±90)")
    if abs(lat) > MAX_ABS_LAT:
        raise _refuse("polar", f"{where}: fences beyond ±{MAX_ABS_LAT}° latitude are not supported")
    return lon, lat


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _rings(value: object, where: str) -> list[list[tuple[float, float]]]:
    if not isinstance(value, list) or not value:
        raise _refuse("bad_coordinates", f"{where}: a polygon is a non-empty array of linear rings")
    rings = [_ring(ring, f"{where}[{i}]") for i, ring in enumerate(value)]
    for i, ring in enumerate(rings):
        lons = [p[0] for p in ring]
        if max(lons) - min(lons) > 180:
            raise _refuse(
                "antimeridian",
                f"{where}[{i}]: the ring spans more than 180° of longitude, so it crosses the antimeridian;"
                " split it at ±180° into a MultiPolygon (RFC 7946 §3.1.9)",
            )
    return rings


def _ring(value: object, where: str) -> list[tuple[float, float]]:
    if not isinstance(value, list) or len(value) < 4:
        raise _refuse("short_ring", f"{where}: a linear ring has at least four positions (RFC 7946 §3.1.6)")
    points = [_position(p, f"{where}[{i}]") for i, p in enumerate(value)]
    if points[0] != points[-1]:
        raise _refuse("open_ring", f"{where}: the ring is not closed (first and last positions differ)")
    return points


def _check_area(geom: Area, limits: FenceLimits) -> Area:
    reason = shapely.is_valid_reason(geom)
    if reason != "Valid Geometry":
        raise _refuse("invalid_geometry", f"invalid geometry: {reason}")
    vertices = vertex_count(geom)
    if vertices > limits.max_vertices:
        raise _refuse("too_many_vertices", f"the fence has {vertices} vertices; at most {limits.max_vertices}")
    km2 = area_km2(geom)
    if km2 > limits.max_area_km2:
        raise _refuse("too_large", f"the fence covers {km2:.1f} km²; at most {limits.max_area_km2} km²")
    return shapely.orient_polygons(geom)  # exterior counter-clockwise, holes clockwise (RFC 7946)


def vertex_count(geom: Area) -> int:
    """Distinct vertices: every ring's positions without its closing repeat."""
    rings = shapely.get_rings(shapely.get_parts(geom))
    return int(shapely.get_num_coordinates(geom)) - len(rings)


@cache
def _geod() -> Geod:
    return Geod(ellps="WGS84")


def area_km2(geom: Area) -> float:
    """Geodesic area on WGS84 in km²."""
    area, _ = _geod().geometry_area_perimeter(geom)
    return abs(area) / 1e6


def shape_to_geojson(shape: Shape) -> dict[str, Any]:
    """The JSON form :func:`parse_shape` accepts."""
    if isinstance(shape, Circle):
        return {"type": "Circle", "center": [shape.lon, shape.lat], "radius_m": shape.radius_m}
    out: dict[str, Any] = _lists(dict(mapping(shape)))
    return out


def _lists(value: Any) -> Any:
    # shapely's mapping() gives tuples; JSON (and our parser) wants arrays
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return value


def distance_to_centre_m(shape: Shape, lon: float, lat: float) -> float:
    """Metres from (lon, lat) to the fence's centre (a circle's centre, a polygon's centroid): the SMS's {distance}."""
    if isinstance(shape, Circle):
        clon, clat = shape.lon, shape.lat
    else:
        c = shape.centroid
        clon, clat = c.x, c.y
    dx = (lon - clon) * math.cos(math.radians(clat)) * M_PER_DEG
    return math.hypot(dx, (lat - clat) * M_PER_DEG)


def bounds_of(shape: Shape) -> tuple[float, float, float, float]:
    """min_lon, min_lat, max_lon, max_lat."""
    if isinstance(shape, Circle):
        return shape.bounds()
    b = shape.bounds
    return b[0], b[1], b[2], b[3]
