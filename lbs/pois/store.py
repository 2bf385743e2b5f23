"""The POI store on PostgreSQL/PostGIS: nearest-k by ``<->`` on the GiST index, applications, set versions.

Distances are on the sphere (``ST_Distance(..., false)``), the same metric the ``geography <->`` operator orders
by and the in-memory index uses, so both paths agree on order and distance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from lbs.db import Conn
from lbs.errors import InvalidArgument, NotFound

# Where read-only queries run: a connection or the pool itself (one statement each).
if TYPE_CHECKING:
    Db: TypeAlias = Conn | asyncpg.Pool[Any]
else:
    Db = Any


@dataclass(frozen=True, slots=True)
class Poi:
    """One point of interest as search results carry it."""

    id: int
    external_id: str
    category: str
    name: str
    lat: float
    lon: float
    address: str = ""
    phone: str = ""
    opening_hours: str = ""

    def to_json(self) -> dict[str, Any]:
        """The REST shape of this POI."""
        return {
            "id": self.external_id,
            "category": self.category,
            "name": self.name,
            "lat": self.lat,
            "lon": self.lon,
            "address": self.address,
            "phone": self.phone,
            "opening_hours": self.opening_hours,
        }


@dataclass(frozen=True, slots=True)
class Hit:
    """A POI and its great-circle distance from the query point, in metres."""

    poi: Poi
    distance_m: float


@dataclass(frozen=True, slots=True)
class AppRef:
    """An application as the POI code needs it: ids for billing, the name for consent."""

    id: int
    name: str
    provider_id: int


_COLUMNS = "id, external_id, category, name, ST_Y(location::geometry) AS lat, ST_X(location::geometry) AS lon,"
_COLUMNS += " address, phone, opening_hours"

_NEAREST = (
    f"SELECT {_COLUMNS}, ST_Distance(location, q.pt, false) AS distance_m"  # noqa: S608 - constant columns
    " FROM pois, (SELECT ST_SetSRID(ST_MakePoint($3, $4), 4326)::geography AS pt) q"
    " WHERE application_id = $1 AND category = $2"
    " AND ($6::float8 IS NULL OR ST_DWithin(location, q.pt, $6, false))"
    " ORDER BY location <-> q.pt LIMIT $5"
)


def poi_of(row: asyncpg.Record) -> Poi:
    """A :class:`Poi` from a row with the standard columns."""
    return Poi(row["id"], row["external_id"], row["category"], row["name"], row["lat"], row["lon"],
               row["address"], row["phone"], row["opening_hours"])  # fmt: skip


async def nearest_postgis(
    conn: Db, app_id: int, category: str, lat: float, lon: float, k: int, max_radius_m: float | None = None
) -> list[Hit]:
    """The ``k`` nearest POIs of ``category`` for ``app_id`` (within ``max_radius_m`` when given), nearest first."""
    rows = await conn.fetch(_NEAREST, app_id, category, lon, lat, k, max_radius_m)
    return [Hit(poi_of(r), float(r["distance_m"])) for r in rows]


async def fetch_all(conn: Db, app_id: int) -> list[asyncpg.Record]:
    """Every POI of ``app_id``, ordered by category then id (what the in-memory index loads)."""
    return await conn.fetch(
        f"SELECT {_COLUMNS} FROM pois WHERE application_id = $1 ORDER BY category, id",  # noqa: S608
        app_id,
    )


async def set_version(conn: Db, app_id: int) -> int:
    """The current version of ``app_id``'s POI set (0 when it never had any)."""
    version = await conn.fetchval("SELECT version FROM poi_sets WHERE application_id = $1", app_id)
    return int(version or 0)


async def bump_version(conn: Conn, app_id: int) -> int:
    """Move ``app_id``'s POI set to a new version (call in the transaction that changed it)."""
    version = await conn.fetchval(
        "INSERT INTO poi_sets (application_id, version) VALUES ($1, 1) ON CONFLICT (application_id)"
        " DO UPDATE SET version = poi_sets.version + 1, updated_at = now() RETURNING version",
        app_id,
    )
    return int(version)


def _app(row: asyncpg.Record | None, what: str) -> AppRef:
    if row is None:
        raise NotFound(f"no application {what}")
    return AppRef(int(row["id"]), str(row["name"]), int(row["provider_id"]))


async def app_by_name(conn: Db, name: str, provider_id: int | None = None) -> AppRef:
    """The application ``name``; with ``provider_id`` only that provider's (another's is NotFound, like none)."""
    row = await conn.fetchrow(
        "SELECT id, name, provider_id FROM applications WHERE name = $1 AND ($2::bigint IS NULL OR provider_id = $2)",
        name.strip().upper(),
        provider_id,
    )
    return _app(row, f"named {name!r}")


async def only_app_of(conn: Db, provider_id: int) -> AppRef:
    """The provider's application when it has exactly one; otherwise the caller must name it."""
    rows = await conn.fetch(
        "SELECT id, name, provider_id FROM applications WHERE provider_id = $1 LIMIT 2", provider_id
    )
    if len(rows) != 1:
        raise InvalidArgument("name the application (parameter `application`): this provider has "
                              f"{'none' if not rows else 'several'}")  # fmt: skip
    return _app(rows[0], "")


async def app_for_short_code(conn: Db, short_code: str, default_name: str) -> AppRef:
    """The application answering POI keywords on ``short_code``: its poi_short_codes row, else ``default_name``."""
    row = await conn.fetchrow(
        "SELECT a.id, a.name, a.provider_id FROM poi_short_codes s JOIN applications a ON a.id = s.application_id"
        " WHERE s.short_code = $1",
        short_code,
    )
    if row is not None:
        return _app(row, "")
    return await app_by_name(conn, default_name)


@dataclass(frozen=True, slots=True)
class CustomWord:
    """An extra SMS word of ``poi_keywords``: on ``short_code``, ``keyword`` asks ``application`` for ``category``."""

    short_code: str
    keyword: str
    application: AppRef
    category: str
    language: str | None


async def custom_words(conn: Db) -> list[CustomWord]:
    """Every row of ``poi_keywords`` with its application."""
    rows = await conn.fetch(
        "SELECT k.short_code, k.keyword, k.category, k.language, a.id, a.name, a.provider_id"
        " FROM poi_keywords k JOIN applications a ON a.id = k.application_id ORDER BY k.short_code, k.keyword"
    )
    return [CustomWord(r["short_code"], r["keyword"], _app(r, ""), r["category"], r["language"]) for r in rows]
