"""Cell tables: the two lookup structures behind :class:`geofences.index.FenceIndex` (pure numpy, no I/O).

A fence is cut by a regular lon/lat grid (cell side ``d`` degrees). Each table maps a cell key to the fence entries
of that cell in CSR form (sorted unique ``keys``, ``offsets``), so a batch of reports finds its candidates with one
``searchsorted`` and one ``repeat``.

- :class:`CircleTable`: one entry per (circle, cell the circle touches); the exact test is a vectorised distance
  comparison, no geometry library involved.
- :class:`PolygonTable`: one entry per (polygon, cell) that is *full* (the cell lies inside the polygon: a hit with
  no test at all) or *partial* (the boundary crosses the cell). A partial entry stores the polygon edges that cross
  the cell and whether a fixed reference point of the cell is inside; a report is inside iff that flag XOR the parity
  of edge crossings along an axis-aligned L-path from the reference point to the report (all inside the cell, so the
  stored edges are the only ones it can cross). This is the crossing-number test restricted to a cell, as S2's shape
  index does; it needs no GEOS call per report.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import shapely

from geofences.geo import M_PER_DEG

IntArray: TypeAlias = npt.NDArray[np.int64]
FloatArray: TypeAlias = npt.NDArray[np.float64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
ObjArray: TypeAlias = npt.NDArray[np.object_]

KEY_OFFSET = 1 << 30  # cell indices shifted to be non-negative; two packed in one int64 stay below 2**63
# Reference point of a cell, as fractions of its side: off-centre so that round user coordinates never hit it.
REF_U = 0.5123456789
REF_V = 0.4876543211


def cell_index(values: FloatArray, d: float) -> IntArray:
    """Grid index of each coordinate for cells of ``d`` degrees."""
    return np.floor(values / d).astype(np.int64)


def pack(ix: IntArray, iy: IntArray) -> IntArray:
    """One int64 key per cell."""
    return ((ix + KEY_OFFSET) << 32) | (iy + KEY_OFFSET)


def pack_one(ix: int, iy: int) -> int:
    """:func:`pack` for one cell."""
    return ((ix + KEY_OFFSET) << 32) | (iy + KEY_OFFSET)


def ref_point(ix: IntArray, iy: IntArray, d: float) -> tuple[FloatArray, FloatArray]:
    """The reference point of each cell (build and query must compute it identically, bit for bit)."""
    return np.asarray((ix + REF_U) * d, dtype=np.float64), np.asarray((iy + REF_V) * d, dtype=np.float64)


def expand(starts: IntArray, counts: IntArray) -> tuple[IntArray, IntArray]:
    """For ranges [start, start+count): (owner index of each element, element value), vectorised."""
    owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    firsts = np.cumsum(counts) - counts
    values = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(firsts - starts, counts)
    return owner, values


def grid_ranges(
    x0: FloatArray, y0: FloatArray, x1: FloatArray, y1: FloatArray, d: float
) -> tuple[IntArray, IntArray, IntArray]:
    """Every cell of each box: (owner box, ix, iy)."""
    ix0, ix1 = cell_index(x0, d), cell_index(x1, d)
    iy0, iy1 = cell_index(y0, d), cell_index(y1, d)
    nx, ny = ix1 - ix0 + 1, iy1 - iy0 + 1
    owner, local = expand(np.zeros(len(nx), dtype=np.int64), nx * ny)
    return owner, ix0[owner] + local % nx[owner], iy0[owner] + local // nx[owner]


class _Csr:
    """Sorted unique cell keys with the entry range of each."""

    def __init__(self, keys: IntArray) -> None:
        self.order = np.argsort(keys, kind="stable")
        sorted_keys = keys[self.order]
        first = np.ones(len(sorted_keys), dtype=bool)
        first[1:] = sorted_keys[1:] != sorted_keys[:-1]
        self.keys = sorted_keys[first]
        self.offsets = np.append(np.flatnonzero(first), len(sorted_keys)).astype(np.int64)

    def lookup(self, keys: IntArray) -> tuple[IntArray, IntArray]:
        """(report index, entry index) of every entry in the cells of ``keys``."""
        if len(self.keys) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        found = self.keys[pos] == keys
        starts = self.offsets[pos]
        counts = np.where(found, self.offsets[pos + 1] - starts, 0)
        return expand(starts, counts)

    def range_one(self, key: int) -> tuple[int, int]:
        """Entry range of one cell key (empty when the cell has none)."""
        pos = int(self.keys.searchsorted(key))
        if pos == len(self.keys) or int(self.keys[pos]) != key:
            return 0, 0
        return int(self.offsets[pos]), int(self.offsets[pos + 1])

    @property
    def nbytes(self) -> int:
        return int(self.keys.nbytes + self.offsets.nbytes)


@dataclass
class CircleParams:
    """Per-slot circle parameters the exact test needs (index arrays by slot)."""

    lon: FloatArray
    lat: FloatArray
    kx: FloatArray  # metres per degree of longitude at the centre
    r2: FloatArray  # radius squared, m²


class CircleTable:
    """Circles by cell; exact distance test vectorised."""

    def __init__(self, slots: IntArray, params: CircleParams, d: float) -> None:
        self.d = d
        lon, lat, kx = params.lon[slots], params.lat[slots], params.kx[slots]
        r = np.sqrt(params.r2[slots])
        # The exact test measures in the plane at the centre, so the circle's box is exactly r/kx by r/k degrees.
        dlat, dlon = r / M_PER_DEG, r / kx
        owner, ix, iy = grid_ranges(lon - dlon, lat - dlat, lon + dlon, lat + dlat, d)
        # Keep only cells the circle really touches: nearest point of the cell to the centre within r.
        nx = np.clip(lon[owner], ix * d, (ix + 1) * d)
        ny = np.clip(lat[owner], iy * d, (iy + 1) * d)
        dx, dy = (nx - lon[owner]) * kx[owner], (ny - lat[owner]) * M_PER_DEG
        touch = dx * dx + dy * dy <= r[owner] ** 2 * 1.000001
        self.csr = _Csr(pack(ix[touch], iy[touch]))
        self.slot = slots[owner[touch]][self.csr.order]
        del self.csr.order

    def query(self, lon: FloatArray, lat: FloatArray, params: CircleParams) -> tuple[IntArray, IntArray]:
        """(report index, slot) of every circle containing a report."""
        rep, entry = self.csr.lookup(pack(cell_index(lon, self.d), cell_index(lat, self.d)))
        slot = self.slot[entry]
        dx = (lon[rep] - params.lon[slot]) * params.kx[slot]
        dy = (lat[rep] - params.lat[slot]) * M_PER_DEG
        hit = dx * dx + dy * dy <= params.r2[slot]
        return rep[hit], slot[hit]

    def query_one(self, lon: float, lat: float, params: CircleParams) -> IntArray:
        """Slots of the circles containing one position (no per-batch overhead)."""
        a, b = self.csr.range_one(pack_one(math.floor(lon / self.d), math.floor(lat / self.d)))
        slot = self.slot[a:b]
        dx = (lon - params.lon[slot]) * params.kx[slot]
        dy = (lat - params.lat[slot]) * M_PER_DEG
        result: IntArray = slot[dx * dx + dy * dy <= params.r2[slot]]
        return result

    @property
    def nbytes(self) -> int:
        return self.csr.nbytes + int(self.slot.nbytes)


def polygon_edges(geoms: ObjArray) -> tuple[IntArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Every ring edge of the (multi)polygons: (geometry index, x0, y0, x1, y1)."""
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, coord_of = shapely.get_coordinates(rings, return_index=True)
    same = coord_of[1:] == coord_of[:-1]
    start = np.flatnonzero(same)
    owner = part_of[ring_of[coord_of[start]]].astype(np.int64)
    return owner, coords[start, 0], coords[start, 1], coords[start + 1, 0], coords[start + 1, 1]


class PolygonTable:
    """Polygons by cell: full cells need no test, partial cells a crossing-parity test on their few edges."""

    def __init__(self, slots: IntArray, geoms: ObjArray, d: float) -> None:
        self.d = d
        shapely.prepare(geoms)
        b = shapely.bounds(geoms).reshape(-1, 4)
        owner, ix, iy = grid_ranges(b[:, 0], b[:, 1], b[:, 2], b[:, 3], d)
        bx0, by0 = cell_index(b[:, 0], d), cell_index(b[:, 1], d)
        width = cell_index(b[:, 2], d) - bx0 + 1
        base = np.cumsum(width * (cell_index(b[:, 3], d) - by0 + 1)) - width * (cell_index(b[:, 3], d) - by0 + 1)
        # Which (geometry, cell) pairs does an edge cross?
        e_geom, x0, y0, x1, y1 = polygon_edges(geoms)
        e_own, cx, cy = grid_ranges(np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1), d)
        crosses = _segment_touches_cell(x0[e_own] / d, y0[e_own] / d, x1[e_own] / d, y1[e_own] / d, cx, cy)
        e_own, cx, cy = e_own[crosses], cx[crosses], cy[crosses]
        g = e_geom[e_own]
        cell_id = base[g] + (cx - bx0[g]) + (cy - by0[g]) * width[g]  # unique per (geometry, cell)
        partial = np.zeros(len(owner), dtype=bool)
        partial[cell_id] = True
        ref_x, ref_y = ref_point(ix, iy, d)
        ref_in = shapely.contains_xy(geoms[owner], ref_x, ref_y)
        keep = partial | ref_in
        # Entries: one per kept cell; edges of partial cells grouped by cell_id (same order as entries).
        kept_ids = np.flatnonzero(keep)
        order = np.argsort(cell_id, kind="stable")
        e_sorted = e_own[order]
        counts = np.bincount(cell_id, minlength=len(owner))[kept_ids]
        self.csr = _Csr(pack(ix[kept_ids], iy[kept_ids]))
        o = self.csr.order
        del self.csr.order
        self.slot = slots[owner[kept_ids]][o]
        self.partial = partial[kept_ids][o]
        self.ref_in = ref_in[kept_ids][o]
        e_first = (np.cumsum(counts) - counts)[o]
        self.ecount = counts[o]
        _, gather = expand(e_first, self.ecount)
        edges = e_sorted[gather]
        self.estart = np.cumsum(self.ecount) - self.ecount
        self.ex0, self.ey0, self.ex1, self.ey1 = x0[edges], y0[edges], x1[edges], y1[edges]
        # Every edge of each polygon, for distances to the edge (hysteresis); CSR by local polygon number.
        self.poly_start = np.searchsorted(e_geom, np.arange(len(geoms) + 1)).astype(np.int64)
        self.px0, self.py0, self.px1, self.py1 = x0, y0, x1, y1
        self.local_of = np.full(int(slots.max()) + 1, -1, dtype=np.int64)
        self.local_of[slots] = np.arange(len(slots))
        self._edge_lists: dict[int, list[tuple[float, float, float, float]]] = {}

    def query_one(self, lon: float, lat: float) -> list[int]:
        """Slots of the polygons containing one position: the same arithmetic as :meth:`query`, in Python."""
        ix, iy = math.floor(lon / self.d), math.floor(lat / self.d)
        a, b = self.csr.range_one(pack_one(ix, iy))
        if a == b:
            return []
        rx, ry = (ix + REF_U) * self.d, (iy + REF_V) * self.d
        out = []
        for e, slot in enumerate(self.slot[a:b].tolist(), start=a):
            if not self.partial[e]:
                out.append(slot)
                continue
            s = int(self.estart[e])
            c = s + int(self.ecount[e])
            edges = zip(
                self.ex0[s:c].tolist(),
                self.ey0[s:c].tolist(),
                self.ex1[s:c].tolist(),
                self.ey1[s:c].tolist(),
                strict=True,
            )
            if bool(self.ref_in[e]) ^ (_crossings_one(lon, lat, rx, ry, edges) % 2 == 1):
                out.append(slot)
        return out

    def distance_one(self, slot: int, lon: float, lat: float) -> float:
        """:meth:`distance_m` for one position, in Python floats (cheaper than numpy for one polygon's edges)."""
        edges = self._edge_lists.get(slot)
        if edges is None:  # Python lists of the polygon's edges, made once: the one-at-a-time path reuses them
            local = int(self.local_of[slot])
            a, b = int(self.poly_start[local]), int(self.poly_start[local + 1])
            arrays = (self.px0[a:b], self.py0[a:b], self.px1[a:b], self.py1[a:b])
            edges = self._edge_lists[slot] = list(zip(*(x.tolist() for x in arrays), strict=True))
        kx = math.cos(math.radians(lat)) * M_PER_DEG
        best = math.inf
        for x0, y0, x1, y1 in edges:
            ax, ay = (x0 - lon) * kx, (y0 - lat) * M_PER_DEG
            dx, dy = (x1 - x0) * kx, (y1 - y0) * M_PER_DEG
            length2 = dx * dx + dy * dy
            t = min(max(-(ax * dx + ay * dy) / length2, 0.0), 1.0) if length2 > 0 else 0.0
            cx, cy = ax + t * dx, ay + t * dy
            best = min(best, cx * cx + cy * cy)
        return math.sqrt(best)

    def distance_m(self, slots: IntArray, lon: FloatArray, lat: FloatArray) -> FloatArray:
        """Metres from each (lon[i], lat[i]) to the boundary of the polygon in ``slots[i]`` (all in this table)."""
        local = self.local_of[slots]
        starts = self.poly_start[local]
        counts = self.poly_start[local + 1] - starts
        pair, edge = expand(starts, counts)
        kx = np.cos(np.radians(lat)) * M_PER_DEG
        k, px, py = kx[pair], lon[pair], lat[pair]
        ax, ay = (self.px0[edge] - px) * k, (self.py0[edge] - py) * M_PER_DEG
        dx, dy = (self.px1[edge] - self.px0[edge]) * k, (self.py1[edge] - self.py0[edge]) * M_PER_DEG
        length2 = dx * dx + dy * dy
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.clip(np.where(length2 > 0, -(ax * dx + ay * dy) / length2, 0.0), 0.0, 1.0)
        cx, cy = ax + t * dx, ay + t * dy
        if len(pair) == 0:
            return np.zeros(0)
        best = np.minimum.reduceat(cx * cx + cy * cy, np.cumsum(counts) - counts)
        result: FloatArray = np.sqrt(best)
        return result

    def query(self, lon: FloatArray, lat: FloatArray) -> tuple[IntArray, IntArray]:
        """(report index, slot) of every polygon containing a report."""
        ix, iy = cell_index(lon, self.d), cell_index(lat, self.d)
        rep, entry = self.csr.lookup(pack(ix, iy))
        partial = self.partial[entry]
        full_rep, full_slot = rep[~partial], self.slot[entry[~partial]]
        p_rep, p_entry = rep[partial], entry[partial]
        pair, edge = expand(self.estart[p_entry], self.ecount[p_entry])
        r = p_rep[pair]
        rx, ry = ref_point(ix[r], iy[r], self.d)
        crossings = _crossings(lon[r], lat[r], rx, ry, self, edge)
        odd = np.bincount(pair, weights=crossings, minlength=len(p_entry)).astype(np.int64) % 2 == 1
        inside = self.ref_in[p_entry] ^ odd
        return np.concatenate([full_rep, p_rep[inside]]), np.concatenate([full_slot, self.slot[p_entry[inside]]])

    @property
    def nbytes(self) -> int:
        arrays = (
            self.slot,
            self.partial,
            self.ref_in,
            self.ecount,
            self.estart,
            self.ex0,
            self.ey0,
            self.ex1,
            self.ey1,
        )
        mine = (self.poly_start, self.px0, self.py0, self.px1, self.py1, self.local_of)
        return self.csr.nbytes + sum(int(a.nbytes) for a in (*arrays, *mine))


def _segment_touches_cell(
    u0: FloatArray, v0: FloatArray, u1: FloatArray, v1: FloatArray, cx: IntArray, cy: IntArray
) -> BoolArray:
    """Whether each segment (in cell units) touches its cell; the cell is already inside the segment's box."""
    du, dv = u1 - u0, v1 - v0
    sides = [du * (cy + j - v0) - dv * (cx + i - u0) for i in (0, 1) for j in (0, 1)]
    above = (sides[0] > 0) & (sides[1] > 0) & (sides[2] > 0) & (sides[3] > 0)
    below = (sides[0] < 0) & (sides[1] < 0) & (sides[2] < 0) & (sides[3] < 0)
    result: BoolArray = ~(above | below)
    return result


def _crossings(
    px: FloatArray, py: FloatArray, rx: FloatArray, ry: FloatArray, table: PolygonTable, edge: IntArray
) -> FloatArray:
    """Edge crossings of the path ref -> (px, ry) -> (px, py), half-open on each axis (PNPOLY's rule)."""
    x0, y0, x1, y1 = table.ex0[edge], table.ey0[edge], table.ex1[edge], table.ey1[edge]
    with np.errstate(invalid="ignore", divide="ignore"):
        straddle_h = (y0 > ry) != (y1 > ry)
        xi = x0 + (ry - y0) * (x1 - x0) / (y1 - y0)
        h = straddle_h & (xi > np.minimum(rx, px)) & (xi <= np.maximum(rx, px))
        straddle_v = (x0 > px) != (x1 > px)
        yi = y0 + (px - x0) * (y1 - y0) / (x1 - x0)
        v = straddle_v & (yi > np.minimum(ry, py)) & (yi <= np.maximum(ry, py))
    result: FloatArray = h.astype(np.float64) + v.astype(np.float64)
    return result


def _crossings_one(
    px: float, py: float, rx: float, ry: float, edges: Iterable[tuple[float, float, float, float]]
) -> int:
    """:func:`_crossings` for one position, in Python floats (same operations, same results)."""
    count = 0
    for x0, y0, x1, y1 in edges:
        if (y0 > ry) != (y1 > ry):
            xi = x0 + (ry - y0) * (x1 - x0) / (y1 - y0)
            count += min(rx, px) < xi <= max(rx, px)
        if (x0 > px) != (x1 > px):
            yi = y0 + (px - x0) * (y1 - y0) / (x1 - x0)
            count += min(ry, py) < yi <= max(ry, py)
    return count
