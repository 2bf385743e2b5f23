"""The in-memory nearest-k index: one k-d tree per (application, category) on unit-sphere coordinates.

Loaded per application on first use, from PostgreSQL. Consistency: an import in this process invalidates the
application at once; another process's import moves ``poi_sets.version``, which every query compares at most
every ``check_s`` seconds. Searching is synchronous (a few µs): no awaits between tree and answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import astuple, dataclass, field
from typing import Any

import numpy as np
from scipy.spatial import cKDTree  # type: ignore[import-untyped]

from lbs.pois import store
from lbs.pois.geo import FloatArray, chord_to_metres, metres_to_chord, point_xyz, to_unit_xyz
from lbs.pois.store import Db, Hit, Poi

# A POI as the index keeps it: the fields of :class:`Poi` in order. Tuples of plain values are not tracked by the
# garbage collector, so a million of them add nothing to GC pauses (Poi objects would, and show in the p99).
PoiTuple = tuple[int, str, str, str, float, float, str, str, str]


@dataclass(frozen=True)
class CategoryTree:
    """The POIs of one category: a k-d tree and the rows its indices point into."""

    tree: Any  # scipy.spatial.cKDTree (untyped)
    rows: list[PoiTuple]

    def nearest(self, lat: float, lon: float, k: int, max_radius_m: float | None = None) -> list[Hit]:
        """Up to ``k`` POIs nearest to (lat, lon), within ``max_radius_m`` when given, nearest first."""
        n = len(self.rows)
        if n == 0 or k <= 0:
            return []
        bound = metres_to_chord(max_radius_m) if max_radius_m is not None else np.inf
        dist, idx = self.tree.query(point_xyz(lat, lon), k=min(k, n), distance_upper_bound=bound)
        dists, idxs = np.atleast_1d(dist), np.atleast_1d(idx)
        rows = self.rows
        return [Hit(Poi(*rows[i]), chord_to_metres(d)) for d, i in zip(dists.tolist(), idxs.tolist(), strict=True)
                if i < n]  # fmt: skip


def build_tree(rows: list[PoiTuple]) -> CategoryTree:
    """A :class:`CategoryTree` over ``rows``."""
    lat: FloatArray = np.fromiter((r[4] for r in rows), dtype=np.float64, count=len(rows))
    lon: FloatArray = np.fromiter((r[5] for r in rows), dtype=np.float64, count=len(rows))
    return CategoryTree(cKDTree(to_unit_xyz(lat, lon), balanced_tree=False, compact_nodes=False), rows)


def build_index(rows: Iterable[PoiTuple | Poi]) -> dict[str, CategoryTree]:
    """One tree per category of ``rows`` (POIs or their tuples)."""
    groups: dict[str, list[PoiTuple]] = {}
    for row in rows:
        values = astuple(row) if isinstance(row, Poi) else row
        groups.setdefault(values[2], []).append(values)
    return {category: build_tree(members) for category, members in groups.items()}


@dataclass
class AppIndex:
    """The trees of one application and the POI-set version they were built from."""

    version: int
    trees: dict[str, CategoryTree]
    checked_at: float


@dataclass
class MemoryIndex:
    """Per-application in-memory trees, loaded lazily, reloaded when the POI set's version moves."""

    check_s: float = 5.0
    _apps: dict[int, AppIndex] = field(default_factory=dict)
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict)

    async def nearest(
        self, conn: Db, app_id: int, category: str, lat: float, lon: float, k: int, max_radius_m: float | None
    ) -> list[Hit]:
        """Nearest-k from the trees of ``app_id`` (loading or refreshing them through ``conn`` when needed)."""
        index = await self.ensure(conn, app_id)
        tree = index.trees.get(category)
        return tree.nearest(lat, lon, k, max_radius_m) if tree is not None else []

    async def ensure(self, conn: Db, app_id: int) -> AppIndex:
        """The current trees of ``app_id``: loaded when absent or invalidated, refreshed when stale."""
        index = self._apps.get(app_id)
        now = time.monotonic()
        if index is not None and now - index.checked_at < self.check_s:
            return index
        async with self._locks.setdefault(app_id, asyncio.Lock()):
            index = self._apps.get(app_id)
            if index is not None and time.monotonic() - index.checked_at < self.check_s:
                return index
            version = await store.set_version(conn, app_id)
            if index is None or index.version != version:
                index = await self.load(conn, app_id, version)
            index.checked_at = time.monotonic()
            self._apps[app_id] = index
            return index

    async def load(self, conn: Db, app_id: int, version: int) -> AppIndex:
        """Build the trees of ``app_id`` from the database (the version is read before the rows)."""
        rows = await store.fetch_all(conn, app_id)
        return AppIndex(version, build_index(tuple(r) for r in rows), time.monotonic())

    def invalidate(self, app_id: int) -> None:
        """Forget ``app_id``'s trees: the next query reloads them (call after an import commits)."""
        self._apps.pop(app_id, None)
