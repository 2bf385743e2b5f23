"""Fence validation: each bad geometry refused with its reason; good ones normalised."""

from __future__ import annotations

from typing import Any

import pytest
import shapely

from geofences.model import (
    Circle,
    FenceLimits,
    InvalidFence,
    area_km2,
    bounds_of,
    parse_shape,
    shape_to_geojson,
    vertex_count,
)

SQUARE = [[4.35, 50.84], [4.36, 50.84], [4.36, 50.85], [4.35, 50.85], [4.35, 50.84]]
HOLE = [[4.352, 50.842], [4.354, 50.842], [4.354, 50.844], [4.352, 50.844], [4.352, 50.842]]


def polygon(*rings: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def reason(data: object, limits: FenceLimits | None = None) -> str:
    with pytest.raises(InvalidFence) as exc:
        parse_shape(data, limits)
    assert exc.value.status == 400
    assert exc.value.code == "INVALID_FENCE"
    assert exc.value.details is not None
    return str(exc.value.details["reason"])


def test_polygon_accepted_and_oriented_counter_clockwise() -> None:
    clockwise = list(reversed(SQUARE))  # right-hand rule violated: tolerated (RFC 7946 §3.1.6)
    shape = parse_shape(polygon(clockwise))
    assert isinstance(shape, shapely.Polygon)
    assert shape.exterior.is_ccw
    assert vertex_count(shape) == 4


def test_polygon_with_hole_and_multipolygon() -> None:
    shape = parse_shape(polygon(SQUARE, HOLE))
    assert isinstance(shape, shapely.Polygon)
    assert len(shape.interiors) == 1
    assert not shape.interiors[0].is_ccw
    other = [[x + 0.1, y] for x, y in SQUARE]
    multi = parse_shape({"type": "MultiPolygon", "coordinates": [[SQUARE], [other]]})
    assert isinstance(multi, shapely.MultiPolygon)
    assert vertex_count(multi) == 8


def test_circle_accepted_in_both_spellings() -> None:
    assert parse_shape({"center": [4.35, 50.84], "radius_m": 150}) == Circle(4.35, 50.84, 150.0)
    assert parse_shape({"type": "Circle", "center": [4.35, 50.84, 12.0], "radius_m": 150.5}).radius_m == 150.5


def test_geojson_round_trip() -> None:
    for data in (polygon(SQUARE, HOLE), {"type": "Circle", "center": [4.35, 50.84], "radius_m": 150.0}):
        shape = parse_shape(data)
        assert parse_shape(shape_to_geojson(shape)) == shape


def test_area_is_geodesic() -> None:
    shape = parse_shape(polygon(SQUARE))
    assert isinstance(shape, shapely.Polygon)
    # 0.01° x 0.01° at 50.84°N: ~0.703 km x 1.112 km
    assert area_km2(shape) == pytest.approx(0.782, rel=0.01)
    assert bounds_of(shape) == (4.35, 50.84, 4.36, 50.85)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("POLYGON((0 0,1 0,1 1,0 0))", "not_an_object"),
        ({"type": "Point", "coordinates": [4.35, 50.84]}, "unsupported_type"),
        ({"type": "LineString", "coordinates": SQUARE}, "unsupported_type"),
        ({"type": "Polygon"}, "bad_coordinates"),
        (polygon(), "bad_coordinates"),
        ({"type": "MultiPolygon", "coordinates": []}, "bad_coordinates"),
        (polygon(SQUARE[:3]), "short_ring"),
        (polygon(SQUARE[:4]), "open_ring"),
        (polygon([[4.35, 50.84], [4.36], [4.36, 50.85], [4.35, 50.85], [4.35, 50.84]]), "bad_position"),
        (polygon([[4.35, 50.84], ["4.36", 50.84], [4.36, 50.85], [4.35, 50.84]]), "bad_position"),
        (polygon([[4.35, 50.84], [True, 50.84], [4.36, 50.85], [4.35, 50.84]]), "bad_position"),
        (polygon([[4.35, 50.84], [float("nan"), 50.84], [4.36, 50.85], [4.35, 50.84]]), "bad_position"),
        (polygon([[4.35, 50.84], [4.36, 50.84, 1, 2], [4.36, 50.85], [4.35, 50.84]]), "bad_position"),
        (polygon([[4.35, 50.84], [181, 50.84], [4.36, 50.85], [4.35, 50.84]]), "out_of_range"),
        (polygon([[4.35, 50.84], [4.36, 91], [4.36, 50.85], [4.35, 50.84]]), "out_of_range"),
        (polygon([[4.35, 86], [4.36, 86], [4.36, 86.1], [4.35, 86]]), "polar"),
        (polygon([[179.9, 10], [-179.9, 10], [-179.9, 10.1], [179.9, 10.1], [179.9, 10]]), "antimeridian"),
        (polygon([[4.35, 50.84], [4.36, 50.85], [4.36, 50.84], [4.35, 50.85], [4.35, 50.84]]), "invalid_geometry"),
        (polygon([[4.35, 50.84], [4.36, 50.84], [4.37, 50.84], [4.35, 50.84]]), "invalid_geometry"),
        (polygon(SQUARE, [[x + 0.02, y] for x, y in HOLE]), "invalid_geometry"),
        ({"center": [4.35, 50.84]}, "bad_radius"),
        ({"center": [4.35, 50.84], "radius_m": "100"}, "bad_radius"),
        ({"center": [4.35, 50.84], "radius_m": float("inf")}, "bad_radius"),
        ({"center": [4.35, 50.84], "radius_m": 5}, "radius_out_of_range"),
        ({"center": [4.35, 50.84], "radius_m": 1e6}, "radius_out_of_range"),
        ({"center": [4.35], "radius_m": 100}, "bad_position"),
        ({"center": [179.99, 10], "radius_m": 5000}, "antimeridian"),
        ({"center": [0, 84.99], "radius_m": 5000}, "polar"),
    ],
)
def test_bad_fences_refused_with_reason(data: object, expected: str) -> None:
    assert reason(data) == expected


def test_self_intersection_reason_is_shapely_s() -> None:
    bowtie = polygon([[4.35, 50.84], [4.36, 50.85], [4.36, 50.84], [4.35, 50.85], [4.35, 50.84]])
    with pytest.raises(InvalidFence, match=r"Self-intersection\[4\.355 50\.845\]"):
        parse_shape(bowtie)


def test_limits_on_vertices_and_area() -> None:
    assert reason(polygon(SQUARE), FenceLimits(max_vertices=3)) == "too_many_vertices"
    assert reason(polygon(SQUARE), FenceLimits(max_area_km2=0.5)) == "too_large"
    assert parse_shape(polygon(SQUARE), FenceLimits(max_vertices=4, max_area_km2=0.8))


def test_config_from_settings() -> None:
    from geofences.config import hysteresis_from, index_from, limits_from
    from lbs.settings import Settings

    s = Settings(geofence_max_vertices=12, geofence_confirm_reports=3, geofence_polygon_cell_deg=0.002)
    assert limits_from(s).max_vertices == 12
    assert hysteresis_from(s).confirm_reports == 3
    assert index_from(s).polygon_cell_deg == 0.002
