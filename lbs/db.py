"""PostgreSQL access: one asyncpg pool per process, geometry crossing the boundary as shapely objects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
import shapely
from shapely.geometry.base import BaseGeometry

from lbs.settings import Settings

# A connection as handlers get it: a plain connection or one borrowed from the pool.
if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn: TypeAlias = asyncpg.Connection[Any] | PoolConnectionProxy[Any]
    Executor: TypeAlias = Conn | asyncpg.Pool[Any]  # anything with execute/fetch: a connection or the pool
else:
    Conn = Any  # asyncpg's classes are not subscriptable at run time
    Executor = Any


def _encode_geometry(geom: BaseGeometry) -> bytes:
    # EWKB with SRID 4326: everything we store is WGS84 lon/lat.
    return shapely.to_wkb(shapely.set_srid(geom, 4326), include_srid=True)


def _decode_geometry(data: bytes) -> BaseGeometry:
    return shapely.from_wkb(data)


async def init_connection(conn: asyncpg.Connection[Any]) -> None:
    """Register the shapely codec for PostGIS ``geometry`` on every new connection."""
    await conn.set_type_codec(
        "geometry", encoder=_encode_geometry, decoder=_decode_geometry, format="binary", schema="public"
    )


async def create_pool(settings: Settings) -> asyncpg.Pool[Any]:
    """Open the pool described by ``settings`` (PostGIS must already be in the database)."""
    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        init=init_connection,
    )
    assert pool is not None
    return pool
