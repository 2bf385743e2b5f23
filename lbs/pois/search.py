"""Nearest-k search, the one entry point for SMS, REST and CAMARA callers: in memory or on PostGIS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from lbs.errors import InvalidArgument
from lbs.pois import store
from lbs.pois.categories import is_category
from lbs.pois.index import MemoryIndex
from lbs.pois.store import Db, Hit
from lbs.settings import Settings

MAX_K: Final = 50


def check_query(lat: float, lon: float, category: str, k: int) -> str:
    """Validate a nearest-k query (house-shaped 400s); returns the category code in upper case."""
    if not -90.0 <= lat <= 90.0:
        raise InvalidArgument(f"lat must be between -90 and 90, got {lat}", code="OUT_OF_RANGE")
    if not -180.0 <= lon <= 180.0:
        raise InvalidArgument(f"lon must be between -180 and 180, got {lon}", code="OUT_OF_RANGE")
    if not 1 <= k <= MAX_K:
        raise InvalidArgument(f"k must be between 1 and {MAX_K}, got {k}", code="OUT_OF_RANGE")
    code = category.strip().upper()
    if not is_category(code):
        raise InvalidArgument(f"unknown category {category!r}", code="UNKNOWN_CATEGORY")
    return code


@dataclass
class PoiSearch:
    """Answers nearest-k from the in-memory index when ``settings.pois_memory_index``, else from PostGIS.

    Built without I/O; every call gets the connection (or pool) to load from, so one instance can be created
    when the app is built and shared by the REST handlers and the SMS keywords.
    """

    settings: Settings

    def __post_init__(self) -> None:
        self.memory = MemoryIndex(self.settings.pois_index_check_s) if self.settings.pois_memory_index else None

    async def nearest(
        self, conn: Db, app_id: int, category: str, lat: float, lon: float, k: int, max_radius_m: float | None = None
    ) -> list[Hit]:
        """The ``k`` nearest POIs of ``category`` (an upper-case code), nearest first."""
        if self.memory is not None:
            return await self.memory.nearest(conn, app_id, category, lat, lon, k, max_radius_m)
        return await store.nearest_postgis(conn, app_id, category, lat, lon, k, max_radius_m)

    def changed(self, app_id: int) -> None:
        """Tell the in-memory index that ``app_id``'s POIs changed (after the import's commit)."""
        if self.memory is not None:
            self.memory.invalidate(app_id)
