"""The fence index: which fences contain each of a batch of positions, for 100k fences, with live edits.

Design (chosen by measurement, see ``docs/geofences.md``): two cell tables (:mod:`geofences.cells`), one for
circles (exact distance test in numpy) and one for polygons (full cells need no test; partial cells a crossing
parity on the one or two edges of the cell). No GEOS call happens per report.

Edits never rebuild the whole index: a fence added or changed goes to a small *delta* (its own tables, rebuilt
from the delta fences alone), a removed or replaced fence's slot is marked dead and filtered out of results.
When the delta or the dead slots grow past ``max_delta``, :meth:`FenceIndex.compact` rebuilds everything
(a full rebuild of 100k fences takes well under 5 s; see the bench).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import shapely

from geofences.cells import (
    BoolArray,
    CircleParams,
    CircleTable,
    FloatArray,
    IntArray,
    PolygonTable,
)
from geofences.geo import M_PER_DEG, segment_distance_m
from geofences.model import Circle, Fence

DEFAULT_CIRCLE_CELL_DEG = 0.01  # ~1.1 km x 0.7 km at 50°N: a 1 km circle touches about 6 cells
DEFAULT_POLYGON_CELL_DEG = 0.004  # finer for polygons: most reports then fall in full cells (no test at all)
DEFAULT_MAX_DELTA = 256  # fences edited since the last rebuild before an automatic compaction


class _Tables:
    """The circle and polygon tables over one set of slots."""

    def __init__(self, index: FenceIndex, slots: list[int]) -> None:
        arr = np.asarray(slots, dtype=np.int64)
        is_circle = index.is_circle[arr] if len(arr) else np.zeros(0, dtype=bool)
        circles, polygons = arr[is_circle], arr[~is_circle]
        self.circles = CircleTable(circles, index.params, index.circle_cell_deg) if len(circles) else None
        geoms = np.empty(len(polygons), dtype=object)
        geoms[:] = [index.fences[int(s)].shape for s in polygons]
        self.polygons = PolygonTable(polygons, geoms, index.polygon_cell_deg) if len(polygons) else None

    def query(self, lon: FloatArray, lat: FloatArray, params: CircleParams) -> list[tuple[IntArray, IntArray]]:
        out = []
        if self.circles is not None:
            out.append(self.circles.query(lon, lat, params))
        if self.polygons is not None:
            out.append(self.polygons.query(lon, lat))
        return out

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in (self.circles, self.polygons) if t is not None)


class FenceIndex:
    """Fences by id; :meth:`query` answers a batch of positions, :meth:`upsert`/:meth:`remove` edit live."""

    def __init__(
        self,
        circle_cell_deg: float = DEFAULT_CIRCLE_CELL_DEG,
        polygon_cell_deg: float = DEFAULT_POLYGON_CELL_DEG,
        max_delta: int = DEFAULT_MAX_DELTA,
    ) -> None:
        self.circle_cell_deg = circle_cell_deg
        self.polygon_cell_deg = polygon_cell_deg
        self.max_delta = max_delta
        self.rebuild(())

    # --- building ---------------------------------------------------------------------------------------------

    def rebuild(self, fences: Iterable[Fence]) -> None:
        """Replace every fence by ``fences`` and build the tables from scratch."""
        self.fences: list[Fence] = list({f.id: f for f in fences}.values())
        self.slot_of = {f.id: i for i, f in enumerate(self.fences)}
        n = len(self.fences)
        self.alive: BoolArray = np.ones(n, dtype=bool)
        self.fence_id: IntArray = np.fromiter((f.id for f in self.fences), dtype=np.int64, count=n)
        self.is_circle: BoolArray = np.fromiter((isinstance(f.shape, Circle) for f in self.fences), bool, count=n)
        self.params = CircleParams(*(np.zeros(n) for _ in range(4)))
        self.dwell: FloatArray = np.full(n, np.nan)
        for slot, fence in enumerate(self.fences):
            self._set_params(slot, fence)
        self.main = _Tables(self, list(range(n)))
        self.main_size = n
        self._ids: tuple[IntArray, IntArray] | None = None
        self.delta_slots: list[int] = []
        self.delta = _Tables(self, [])
        self.dead = 0

    def compact(self) -> None:
        """Full rebuild from the live fences (drops dead slots and the delta)."""
        self.rebuild([f for slot, f in enumerate(self.fences) if self.alive[slot]])

    def apply(self, upserts: Iterable[Fence], removes: Iterable[int] = ()) -> None:
        """Many edits at once: one delta rebuild (or one compaction) for all of them."""
        for fence_id in removes:
            self._kill(fence_id)
        for fence in upserts:
            self._add(fence)
        self._after_edit()

    def upsert(self, fence: Fence) -> None:
        """Add ``fence`` or replace the fence with its id, without a full rebuild."""
        self._add(fence)
        self._after_edit()

    def _add(self, fence: Fence) -> None:
        self._kill(fence.id)
        slot = len(self.fences)
        self.fences.append(fence)
        self.slot_of[fence.id] = slot
        self._grow(slot + 1)
        self.alive[slot] = True
        self.fence_id[slot] = fence.id
        self.is_circle[slot] = isinstance(fence.shape, Circle)
        self._set_params(slot, fence)
        self.delta_slots.append(slot)
        self._ids = None

    def remove(self, fence_id: int) -> bool:
        """Drop a fence; False when there was none with that id."""
        found = self._kill(fence_id)
        if found:
            self._after_edit()
        return found

    def _kill(self, fence_id: int) -> bool:
        slot = self.slot_of.pop(fence_id, None)
        if slot is None:
            return False
        self._ids = None
        self.alive[slot] = False
        self.dead += 1
        if slot in self.delta_slots:
            self.delta_slots.remove(slot)
        return True

    def _after_edit(self) -> None:
        if len(self.delta_slots) + self.dead > self.max_delta:
            self.compact()
        else:
            self.delta = _Tables(self, self.delta_slots)

    def _grow(self, size: int) -> None:
        if size <= len(self.alive):
            return
        extra = max(size - len(self.alive), len(self.alive) // 4, 16)
        self.alive = np.concatenate([self.alive, np.zeros(extra, dtype=bool)])
        self.fence_id = np.concatenate([self.fence_id, np.zeros(extra, dtype=np.int64)])
        self.is_circle = np.concatenate([self.is_circle, np.zeros(extra, dtype=bool)])
        self.dwell = np.concatenate([self.dwell, np.full(extra, np.nan)])
        p = self.params
        self.params = CircleParams(*(np.concatenate([a, np.zeros(extra)]) for a in (p.lon, p.lat, p.kx, p.r2)))

    def _set_params(self, slot: int, fence: Fence) -> None:
        shape = fence.shape
        self.dwell[slot] = np.nan if fence.dwell_s is None else fence.dwell_s
        if isinstance(shape, Circle):
            self.params.lon[slot], self.params.lat[slot] = shape.lon, shape.lat
            self.params.kx[slot] = math.cos(math.radians(shape.lat)) * M_PER_DEG
            self.params.r2[slot] = shape.radius_m**2

    # --- querying ---------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.slot_of)

    def __contains__(self, fence_id: object) -> bool:
        return fence_id in self.slot_of

    def get(self, fence_id: int) -> Fence | None:
        """The fence with this id, if indexed."""
        slot = self.slot_of.get(fence_id)
        return None if slot is None else self.fences[slot]

    def query(self, lon: FloatArray, lat: FloatArray) -> tuple[IntArray, IntArray]:
        """(report index, fence id) of every (report, containing fence) pair, sorted by report index."""
        parts = self.main.query(lon, lat, self.params) + self.delta.query(lon, lat, self.params)
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        rep = np.concatenate([p[0] for p in parts])
        slot = np.concatenate([p[1] for p in parts])
        if self.dead:
            live = self.alive[slot]
            rep, slot = rep[live], slot[live]
        order = np.argsort(rep, kind="stable")
        return rep[order], self.fence_id[slot[order]]

    def hits(self, lon: float, lat: float) -> list[int]:
        """Ids of the fences containing one position, sorted (the one-at-a-time path: no batch overhead)."""
        slots: list[int] = []
        for tables in (self.main, self.delta):
            if tables.circles is not None:
                slots += tables.circles.query_one(lon, lat, self.params).tolist()
            if tables.polygons is not None:
                slots += tables.polygons.query_one(lon, lat)
        return sorted(int(self.fence_id[s]) for s in slots if self.alive[s])

    def edge_distance_one(self, fence_id: int, lon: float, lat: float) -> float:
        """Metres from one position to a fence's edge; -inf when the fence is not indexed (any more)."""
        slot = self.slot_of.get(fence_id)
        if slot is None:
            return -math.inf
        if self.is_circle[slot]:
            p = self.params
            dx = (lon - float(p.lon[slot])) * float(p.kx[slot])
            dy = (lat - float(p.lat[slot])) * M_PER_DEG
            return abs(math.sqrt(float(p.r2[slot])) - math.hypot(dx, dy))
        tables = self.main if slot < self.main_size else self.delta
        assert tables.polygons is not None
        return tables.polygons.distance_one(slot, lon, lat)

    def signed_depth_m(self, fence_id: int, lon: float, lat: float) -> float:
        """Metres from the position to the fence's edge: positive inside, negative outside (-inf: no fence)."""
        fence = self.get(fence_id)
        if fence is None:
            return -math.inf
        return signed_depth_m(fence, lon, lat)

    def slots_of(self, fence_ids: IntArray) -> IntArray:
        """The slot of each fence id (-1 for ids not indexed), vectorised."""
        if self._ids is None:
            ids = np.fromiter(self.slot_of.keys(), dtype=np.int64, count=len(self.slot_of))
            slots = np.fromiter(self.slot_of.values(), dtype=np.int64, count=len(self.slot_of))
            order = np.argsort(ids)
            self._ids = ids[order], slots[order]
        ids, slots = self._ids
        if len(ids) == 0:
            return np.full(len(fence_ids), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(ids, fence_ids), len(ids) - 1)
        return np.where(ids[pos] == fence_ids, slots[pos], -1)

    def edge_distance_m(self, slots: IntArray, lon: FloatArray, lat: FloatArray) -> FloatArray:
        """Metres from each position to the edge of the fence in the matching slot (live slots only)."""
        out = np.zeros(len(slots))
        circle = self.is_circle[slots]
        if circle.any():
            p, s = self.params, slots[circle]
            dx = (lon[circle] - p.lon[s]) * p.kx[s]
            dy = (lat[circle] - p.lat[s]) * M_PER_DEG
            out[circle] = np.abs(np.sqrt(p.r2[s]) - np.sqrt(dx * dx + dy * dy))
        for tables, mask in ((self.main, slots < self.main_size), (self.delta, slots >= self.main_size)):
            poly = mask & ~circle
            if poly.any() and tables.polygons is not None:
                out[poly] = tables.polygons.distance_m(slots[poly], lon[poly], lat[poly])
        return out

    @property
    def nbytes(self) -> int:
        """Bytes held by the index arrays (geometries not counted)."""
        p = self.params
        arrays = (self.alive, self.fence_id, self.is_circle, p.lon, p.lat, p.kx, p.r2)
        return self.main.nbytes + self.delta.nbytes + sum(int(a.nbytes) for a in arrays)


def signed_depth_m(fence: Fence, lon: float, lat: float) -> float:
    """Metres from (lon, lat) to the fence's edge: positive inside, negative outside."""
    shape = fence.shape
    if isinstance(shape, Circle):
        dx = (lon - shape.lon) * math.cos(math.radians(shape.lat)) * M_PER_DEG
        dy = (lat - shape.lat) * M_PER_DEG
        return shape.radius_m - math.hypot(dx, dy)
    coords, ring = shapely.get_coordinates(shapely.get_rings(shapely.get_parts(shape)), return_index=True)
    same = np.flatnonzero(ring[1:] == ring[:-1])
    distance = segment_distance_m(lon, lat, coords[same, 0], coords[same, 1], coords[same + 1, 0], coords[same + 1, 1])
    return distance if shapely.contains_xy(shape, lon, lat) else -distance
