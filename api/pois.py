"""Points of interest for providers: ``GET /v1/pois/nearest`` and the streamed upload
``POST /v1/applications/{name}/pois`` (CSV or GeoJSON, upsert by the provider's own id, all or nothing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from api.auth import provider_id_of, require
from api.keys import PG_POOL_KEY, SETTINGS_KEY
from api.openapi import OPENAPI_FRAGMENTS_KEY, error, json_ok, operation
from api.validation import validate
from lbs.errors import PayloadTooLarge, UnsupportedMediaType
from lbs.pois import store
from lbs.pois.loader import import_rows
from lbs.pois.parse import Counter, PoiRow, RowError, parse_csv, parse_geojson
from lbs.pois.search import PoiSearch, check_query

POI_SEARCH_KEY: Final = web.AppKey("poi_search", PoiSearch)
NEAREST_PATH: Final = "/v1/pois/nearest"
UPLOAD_PATH: Final = "/v1/applications/{name}/pois"
CSV_TYPES: Final = ("text/csv",)
GEOJSON_TYPES: Final = ("application/geo+json", "application/json")
CHUNK_BYTES: Final = 65_536


class NearestQuery(BaseModel):
    """Query of ``GET /v1/pois/nearest``."""

    model_config = ConfigDict(extra="forbid")
    lat: float = Field(description="Latitude of the search point, WGS84 degrees (-90 to 90)")
    lon: float = Field(description="Longitude of the search point, WGS84 degrees (-180 to 180)")
    category: str = Field(max_length=32, description="Category code, e.g. PHARMACY, ATM, HOTEL, PETROL")
    k: int = Field(5, description="How many places, 1 to 50")
    application: str | None = Field(None, max_length=20, description="Whose POIs; optional with one application")
    radius_m: float | None = Field(None, gt=0, le=1_000_000, description="Only places within this many metres")


def poi_search(app: web.Application) -> PoiSearch:
    """The app's shared :class:`PoiSearch`."""
    return app[POI_SEARCH_KEY]


async def nearest(request: web.Request) -> web.Response:
    """Provider: the k nearest POIs of one category of the caller's application."""
    provider_id = provider_id_of(await require(request, "provider"))
    query = validate(NearestQuery, dict(request.query))
    category = check_query(query.lat, query.lon, query.category, query.k)
    pool = request.app[PG_POOL_KEY]
    if query.application:
        application = await store.app_by_name(pool, query.application, provider_id)
    else:
        application = await store.only_app_of(pool, provider_id)
    hits = await poi_search(request.app).nearest(
        pool, application.id, category, query.lat, query.lon, query.k, query.radius_m
    )
    return web.json_response(
        {
            "application": application.name,
            "category": category,
            "origin": {"lat": query.lat, "lon": query.lon},
            "pois": [{**h.poi.to_json(), "distance_m": round(h.distance_m, 1)} for h in hits],
        }
    )


def _rows(request: web.Request, counter: Counter, h3_res: int) -> AsyncIterator[PoiRow | RowError]:
    chunks = request.content.iter_chunked(CHUNK_BYTES)
    if request.content_type in CSV_TYPES:
        return parse_csv(chunks, counter, h3_res)
    if request.content_type in GEOJSON_TYPES:
        return parse_geojson(chunks, counter, h3_res)
    raise UnsupportedMediaType(
        f"upload POIs as text/csv or application/geo+json, not {request.content_type!r}", code="UNSUPPORTED_MEDIA_TYPE"
    )


async def upload(request: web.Request) -> web.Response:
    """Provider: upsert POIs of one of the caller's applications from a streamed CSV or GeoJSON body."""
    provider_id = provider_id_of(await require(request, "provider"))
    settings = request.app[SETTINGS_KEY]
    pool = request.app[PG_POOL_KEY]
    application = await store.app_by_name(pool, request.match_info["name"], provider_id)
    if request.content_length is not None and request.content_length > settings.pois_max_upload_bytes:
        raise PayloadTooLarge(f"upload larger than {settings.pois_max_upload_bytes} bytes")
    counter = Counter(settings.pois_max_upload_bytes, settings.pois_max_upload_rows)
    rows = _rows(request, counter, settings.pois_h3_res)
    replace = request.query.get("replace", "false").lower() in ("1", "true", "yes")
    async with pool.acquire() as conn:
        report = await import_rows(conn, application.id, rows, replace=replace, batch_size=settings.pois_import_batch)
    poi_search(request.app).changed(application.id)
    return web.json_response({"application": application.name, **report.to_json()})


def setup_poi_routes(app: web.Application) -> None:
    """Add the POI routes and the shared :class:`PoiSearch` (no I/O: it loads through the pool per call).

    Also registers :data:`OPENAPI_PATHS` in the app's OpenAPI fragments when that list exists.
    """
    app.setdefault(POI_SEARCH_KEY, PoiSearch(app[SETTINGS_KEY]))  # the composition root's, when it made one
    app.router.add_get(NEAREST_PATH, nearest)
    app.router.add_post(UPLOAD_PATH, upload)
    fragments = app.get(OPENAPI_FRAGMENTS_KEY)
    if fragments is not None and OPENAPI_PATHS not in fragments:
        fragments.append(OPENAPI_PATHS)


def _param(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


_POI_SCHEMA: Final = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "category": {"type": "string"},
        "name": {"type": "string"},
        "lat": {"type": "number"},
        "lon": {"type": "number"},
        "address": {"type": "string"},
        "phone": {"type": "string"},
        "opening_hours": {"type": "string"},
        "distance_m": {"type": "number"},
    },
}

_NEAREST_OP: Final = {
    **operation(
        "The k nearest points of interest of one category",
        {
            "200": json_ok("Nearest first", {"type": "object", "properties": {"pois": {"type": "array",
                                                                                       "items": _POI_SCHEMA}}}),
            "400": error("Bad coordinates (OUT_OF_RANGE), unknown category (UNKNOWN_CATEGORY), k outside 1..50"),
            "404": error("No such application for this provider"),
        },
        roles=("provider",),
    ),
    "parameters": [
        _param("lat", {"type": "number", "minimum": -90, "maximum": 90}, "Latitude (WGS84)", True),
        _param("lon", {"type": "number", "minimum": -180, "maximum": 180}, "Longitude (WGS84)", True),
        _param("category", {"type": "string"}, "Category code: PHARMACY, ATM, HOTEL, PETROL, ...", True),
        _param("k", {"type": "integer", "minimum": 1, "maximum": 50, "default": 5}, "How many places"),
        _param("application", {"type": "string"}, "Application name (needed when the provider has several)"),
        _param("radius_m", {"type": "number", "exclusiveMinimum": 0}, "Only places within this distance"),
    ],
}  # fmt: skip

_UPLOAD_OP: Final = {
    **operation(
        "Upload points of interest (CSV or GeoJSON, streamed; upsert by id; all or nothing)",
        {
            "200": json_ok("Imported: received, inserted, updated, deleted"),
            "400": error("Invalid rows (INVALID_ROWS: details.errors names each line/feature), broken file, empty"),
            "404": error("No such application for this provider"),
            "413": error("Too many bytes or rows"),
            "415": error("Not text/csv or application/geo+json"),
        },
        roles=("provider",),
    ),
    "parameters": [
        {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
        _param("replace", {"type": "boolean", "default": False}, "Also delete the POIs this upload does not name"),
    ],
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string", "description": "Header: " + ",".join(
                ("id", "name", "category", "lat", "lon", "address", "phone", "opening_hours"))}},
            "application/geo+json": {"schema": {"type": "object", "description": "FeatureCollection of Points"}},
        },
    },
}  # fmt: skip

OPENAPI_PATHS: Final[dict[str, Any]] = {NEAREST_PATH: {"get": _NEAREST_OP}, UPLOAD_PATH: {"post": _UPLOAD_OP}}
