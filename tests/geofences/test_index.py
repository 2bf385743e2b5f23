"""The fence index against an oracle (shapely for polygons, the metric test for circles), and live edits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geofences.cells import PolygonTable, expand, polygon_edges
from geofences.geo import M_PER_DEG
from geofences.index import FenceIndex, signed_depth_m
from geofences.model import Circle, Fence, Shape

BOX = (4.0, 50.5, 4.4, 50.9)


def star(rng: np.random.Generator, lon: float, lat: float, radius_m: float, n: int) -> shapely.Polygon:
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = radius_m * rng.uniform(0.3, 1.0, n)
    xs = lon + radii * np.cos(angles) / (M_PER_DEG * math.cos(math.radians(lat)))
    ys = lat + radii * np.sin(angles) / M_PER_DEG
    return shapely.Polygon(np.c_[xs, ys])


def random_fences(seed: int, count: int, start_id: int = 1) -> list[Fence]:
    rng = np.random.default_rng(seed)
    fences = []
    for i in range(count):
        lon, lat = rng.uniform(BOX[0], BOX[2]), rng.uniform(BOX[1], BOX[3])
        shape: Shape
        if i % 3:
            shape = Circle(lon, lat, float(rng.uniform(50, 3000)))
        else:
            shape = star(rng, lon, lat, float(rng.uniform(100, 3000)), int(rng.integers(5, 50)))
        fences.append(Fence(start_id + i, shape))
    return fences


def oracle(fences: list[Fence], lon: np.ndarray, lat: np.ndarray) -> set[tuple[int, int]]:
    out: set[tuple[int, int]] = set()
    for fence in fences:
        s = fence.shape
        if isinstance(s, Circle):
            dx = (lon - s.lon) * math.cos(math.radians(s.lat)) * M_PER_DEG
            dy = (lat - s.lat) * M_PER_DEG
            inside = dx * dx + dy * dy <= s.radius_m**2
        else:
            inside = shapely.contains_xy(s, lon, lat)
        out |= {(int(i), fence.id) for i in np.flatnonzero(inside)}
    return out


def answer(index: FenceIndex, lon: np.ndarray, lat: np.ndarray) -> set[tuple[int, int]]:
    rep, fid = index.query(lon, lat)
    assert np.all(np.diff(rep) >= 0), "pairs come sorted by report"
    pairs = set(zip(rep.tolist(), fid.tolist(), strict=True))
    assert len(pairs) == len(rep), "no pair twice"
    return pairs


def points(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(BOX[0], BOX[2], n), rng.uniform(BOX[1], BOX[3], n)


def test_matches_oracle_on_random_fences() -> None:
    fences = random_fences(1, 600)
    index = FenceIndex()
    index.rebuild(fences)
    lon, lat = points(2, 50_000)
    assert answer(index, lon, lat) == oracle(fences, lon, lat)


@pytest.mark.parametrize("cell", [0.0005, 0.002, 0.01, 0.05])
def test_any_cell_size_gives_the_same_answer(cell: float) -> None:
    fences = random_fences(3, 150)
    index = FenceIndex(circle_cell_deg=cell, polygon_cell_deg=cell)
    index.rebuild(fences)
    lon, lat = points(4, 10_000)
    assert answer(index, lon, lat) == oracle(fences, lon, lat)


def test_holes_multipolygons_and_grid_aligned_vertices() -> None:
    d = 0.004
    outer = [(4.0, 50.0), (4.0 + 5 * d, 50.0), (4.0 + 5 * d, 50.0 + 5 * d), (4.0, 50.0 + 5 * d)]
    hole = [(4.0 + d, 50.0 + d), (4.0 + 2 * d, 50.0 + d), (4.0 + 2 * d, 50.0 + 2 * d), (4.0 + d, 50.0 + 2 * d)]
    far = shapely.box(4.1, 50.1, 4.1 + 3 * d, 50.1 + d)
    fences = [
        Fence(1, shapely.Polygon(outer, [hole])),
        Fence(2, shapely.MultiPolygon([shapely.Polygon(hole), far])),
        Fence(3, shapely.box(4.0 + 0.5 * d, 50.0 + 0.5 * d, 4.0 + 4.5 * d, 50.0 + 4.5 * d)),
    ]
    index = FenceIndex(polygon_cell_deg=d)
    index.rebuild(fences)
    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(3.99, 4.12, 40_000), rng.uniform(49.99, 50.11, 40_000)
    # round coordinates on the grid and on the vertices: the boundary itself excluded (contains, not covers)
    grid = np.arange(3.99, 4.12, d / 4)
    lon2, lat2 = np.meshgrid(grid, np.arange(49.99, 50.11, d / 4))
    all_lon, all_lat = np.concatenate([lon, lon2.ravel()]), np.concatenate([lat, lat2.ravel()])
    on_edge = np.zeros(len(all_lon), dtype=bool)
    for f in fences:
        assert not isinstance(f.shape, Circle)
        on_edge |= shapely.distance(f.shape.boundary, shapely.points(all_lon, all_lat)) < 1e-12
    keep = ~on_edge
    assert answer(index, all_lon[keep], all_lat[keep]) == oracle(fences, all_lon[keep], all_lat[keep])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(3, 30),
    cell=st.sampled_from([0.0003, 0.001, 0.004, 0.02]),
)
def test_property_polygon_parity_equals_geos(seed: int, n: int, cell: float) -> None:
    rng = np.random.default_rng(seed)
    poly = star(rng, 4.2, 50.7, float(rng.uniform(50, 5000)), n)
    geoms = np.array([poly], dtype=object)
    table = PolygonTable(np.array([7], dtype=np.int64), geoms, cell)
    b = poly.bounds
    lon, lat = rng.uniform(b[0] - cell, b[2] + cell, 3000), rng.uniform(b[1] - cell, b[3] + cell, 3000)
    rep, slot = table.query(lon, lat)
    assert set(slot.tolist()) <= {7}
    got = np.zeros(len(lon), dtype=bool)
    got[rep] = True
    np.testing.assert_array_equal(got, shapely.contains_xy(poly, lon, lat))


def test_upsert_change_remove_without_rebuild() -> None:
    fences = random_fences(6, 300)
    index = FenceIndex(max_delta=1000)
    index.rebuild(fences)
    main = index.main
    lon, lat = points(7, 20_000)
    live = {f.id: f for f in fences}
    extra = random_fences(8, 40, start_id=10_000)
    for fence in extra:  # add
        index.upsert(fence)
        live[fence.id] = fence
    moved = random_fences(9, 30, start_id=1)  # change the shapes of ids 1..30
    for fence in moved:
        index.upsert(fence)
        live[fence.id] = fence
    for fence_id in range(31, 61):  # remove
        assert index.remove(fence_id)
        del live[fence_id]
    assert not index.remove(424242)
    assert index.main is main, "edits went to the delta, no rebuild"
    assert len(index) == len(live)
    assert answer(index, lon, lat) == oracle(list(live.values()), lon, lat)
    index.compact()
    assert index.dead == 0 and not index.delta_slots
    assert answer(index, lon, lat) == oracle(list(live.values()), lon, lat)


def test_automatic_compaction_past_max_delta() -> None:
    index = FenceIndex(max_delta=10)
    index.rebuild(random_fences(10, 50))
    first = index.main
    for fence in random_fences(11, 11, start_id=500):
        index.upsert(fence)
    assert index.main is not first
    assert len(index) == 61
    assert index.get(500) is not None and 500 in index


def test_empty_index_and_single_point() -> None:
    index = FenceIndex()
    rep, fid = index.query(np.array([4.35]), np.array([50.84]))
    assert len(rep) == 0 and len(fid) == 0
    index.upsert(Fence(5, Circle(4.35, 50.84, 100)))
    assert index.hits(4.35, 50.84) == [5]
    assert index.hits(4.36, 50.84) == []
    assert index.nbytes > 0


def test_signed_depth() -> None:
    circle = Fence(1, Circle(4.35, 50.84, 100))
    east = 4.35 + 60 / (M_PER_DEG * math.cos(math.radians(50.84)))
    assert signed_depth_m(circle, east, 50.84) == pytest.approx(40, abs=0.01)
    square = Fence(2, shapely.box(4.35, 50.84, 4.36, 50.85))
    north = 50.85 - 30 / M_PER_DEG
    assert signed_depth_m(square, 4.355, north) == pytest.approx(30, abs=0.01)
    assert signed_depth_m(square, 4.355, 50.85 + 30 / M_PER_DEG) == pytest.approx(-30, abs=0.01)
    index = FenceIndex()
    assert index.signed_depth_m(99, 4.35, 50.84) == -math.inf


def test_helpers() -> None:
    owner, values = expand(np.array([5, 0, 9]), np.array([2, 0, 3]))
    assert owner.tolist() == [0, 0, 2, 2, 2]
    assert values.tolist() == [5, 6, 9, 10, 11]
    g, *_ = polygon_edges(np.array([shapely.box(0, 0, 1, 1)], dtype=object))
    assert g.tolist() == [0, 0, 0, 0]


def test_one_at_a_time_path_equals_the_batch_path() -> None:
    fences = random_fences(12, 300)
    index = FenceIndex(max_delta=1000)
    index.rebuild(fences)
    for fence in random_fences(13, 20, start_id=5000):
        index.upsert(fence)
    index.remove(1)
    lon, lat = points(14, 3000)
    rep, fid = index.query(lon, lat)
    bounds = np.searchsorted(rep, np.arange(len(lon) + 1))
    for i in range(len(lon)):
        assert index.hits(float(lon[i]), float(lat[i])) == sorted(fid[bounds[i] : bounds[i + 1]].tolist())


def test_edge_distances_agree() -> None:
    fences = random_fences(15, 60)
    index = FenceIndex()
    index.rebuild(fences)
    lon, lat = points(16, 200)
    slots = np.repeat(np.arange(60), 200)
    batch = index.edge_distance_m(slots, np.tile(lon, 60), np.tile(lat, 60))
    for k, (slot, x, y) in enumerate(zip(slots[::37], np.tile(lon, 60)[::37], np.tile(lat, 60)[::37], strict=True)):
        fence = fences[int(slot)]
        expected = abs(signed_depth_m(fence, float(x), float(y)))
        assert index.edge_distance_one(fence.id, float(x), float(y)) == pytest.approx(expected, rel=1e-9, abs=1e-6)
        assert batch[k * 37] == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert index.edge_distance_one(424242, 4.0, 50.0) == -math.inf
