"""The store on real PostGIS: imports (idempotent, all or nothing), nearest-k in PostGIS and in memory agree
with a brute-force distance computation over the same data, and the memory index follows imports."""

from __future__ import annotations

import random
from typing import Any

import asyncpg
import pytest

from lbs.errors import InvalidArgument
from lbs.pois.demo import as_stream, generate
from lbs.pois.loader import import_rows
from lbs.pois.parse import PoiRow, RowError
from lbs.pois.search import PoiSearch
from lbs.pois.store import nearest_postgis
from lbs.settings import Settings
from tests.pois.conftest import Tenant, make_tenant, metres

BBOX = (4.30, 50.80, 4.42, 50.88)


def brute_force(rows: list[PoiRow], category: str, lat: float, lon: float, k: int) -> list[tuple[str, float]]:
    found = sorted((metres(lat, lon, r.lat, r.lon), r.external_id) for r in rows if r.category == category)
    return [(i, d) for d, i in found[:k]]


async def test_postgis_and_memory_match_brute_force(db: asyncpg.Connection[Any], settings: Settings,
                                                    tenant: Tenant) -> None:  # fmt: skip
    rows = generate(1500, 11, BBOX)
    report = await import_rows(db, tenant.app_id, as_stream(rows))
    assert (report.received, report.inserted, report.updated) == (1500, 1500, 0)
    memory = PoiSearch(settings.model_copy(update={"pois_memory_index": True}))
    postgis = PoiSearch(settings.model_copy(update={"pois_memory_index": False}))
    rng = random.Random(3)
    for _ in range(40):
        lat, lon = rng.uniform(50.78, 50.90), rng.uniform(4.28, 4.44)
        category, k = rng.choice(["PHARMACY", "ATM", "HOTEL", "PETROL", "MUSEUM"]), rng.randint(1, 8)
        expected = brute_force(rows, category, lat, lon, k)
        for search in (memory, postgis):
            hits = await search.nearest(db, tenant.app_id, category, lat, lon, k)
            assert [h.poi.external_id for h in hits] == [i for i, _ in expected]
            assert [h.distance_m for h in hits] == pytest.approx([d for _, d in expected], abs=0.05)


async def test_radius_limits_both_paths(db: asyncpg.Connection[Any], settings: Settings, tenant: Tenant) -> None:
    rows = generate(800, 5, BBOX)
    await import_rows(db, tenant.app_id, as_stream(rows))
    lat, lon = 50.84, 4.36
    expected = [i for i, d in brute_force(rows, "ATM", lat, lon, 50) if d <= 600]
    for flag in (True, False):
        search = PoiSearch(settings.model_copy(update={"pois_memory_index": flag}))
        hits = await search.nearest(db, tenant.app_id, "ATM", lat, lon, 50, 600.0)
        assert [h.poi.external_id for h in hits] == expected
    assert await nearest_postgis(db, tenant.app_id, "ATM", -40.0, 170.0, 3, 1000.0) == []


async def test_reupload_is_idempotent_and_last_row_wins(db: asyncpg.Connection[Any], tenant: Tenant) -> None:
    rows = generate(50, 1, BBOX)
    await import_rows(db, tenant.app_id, as_stream(rows))
    again = await import_rows(db, tenant.app_id, as_stream(rows))
    assert (again.inserted, again.updated) == (0, 50)
    moved = PoiRow("demo-00001", "HOTEL", "Renamed", 50.85, 4.35, "", "", "", rows[0].h3)
    twice = await import_rows(db, tenant.app_id, as_stream([rows[0], moved]))
    assert (twice.received, twice.inserted, twice.updated) == (2, 0, 1)
    row = await db.fetchrow("SELECT name, category FROM pois WHERE external_id = 'demo-00001'")
    assert row is not None and (row["name"], row["category"]) == ("Renamed", "HOTEL")
    assert await db.fetchval("SELECT count(*) FROM pois") == 50


async def test_replace_deletes_what_the_upload_omits(db: asyncpg.Connection[Any], tenant: Tenant) -> None:
    rows = generate(30, 2, BBOX)
    await import_rows(db, tenant.app_id, as_stream(rows))
    report = await import_rows(db, tenant.app_id, as_stream(rows[:10]), replace=True)
    assert (report.updated, report.deleted) == (10, 20)
    assert await db.fetchval("SELECT count(*) FROM pois") == 10


async def test_invalid_rows_change_nothing(db: asyncpg.Connection[Any], tenant: Tenant) -> None:
    rows: list[PoiRow | RowError] = [*generate(20, 4, BBOX), RowError("line 22", "lat 95 is out of range")]
    with pytest.raises(InvalidArgument) as caught:
        await import_rows(db, tenant.app_id, as_stream(rows))  # type: ignore[arg-type]
    assert caught.value.code == "INVALID_ROWS"
    errors = [{"where": "line 22", "reason": "lat 95 is out of range"}]
    assert caught.value.details == {"invalid": 1, "rows": 21, "errors": errors}
    assert await db.fetchval("SELECT count(*) FROM pois") == 0
    with pytest.raises(InvalidArgument, match="empty upload"):
        await import_rows(db, tenant.app_id, as_stream([]))


async def test_tenants_are_separate(db: asyncpg.Connection[Any], settings: Settings, tenant: Tenant) -> None:
    other = await make_tenant(db, "Other", "OTHERAPP")
    await import_rows(db, other.app_id, as_stream(generate(100, 9, BBOX)))
    search = PoiSearch(settings)
    assert await search.nearest(db, tenant.app_id, "PHARMACY", 50.85, 4.35, 5) == []


async def test_memory_index_follows_imports(db: asyncpg.Connection[Any], settings: Settings, tenant: Tenant) -> None:
    search = PoiSearch(settings.model_copy(update={"pois_index_check_s": 0.0}))
    far = PoiRow("far", "ATM", "Far", 50.80, 4.30, "", "", "", 1)
    await import_rows(db, tenant.app_id, as_stream([far]))
    assert [h.poi.name for h in await search.nearest(db, tenant.app_id, "ATM", 50.85, 4.35, 1)] == ["Far"]
    near = PoiRow("near", "ATM", "Near", 50.8501, 4.3501, "", "", "", 1)
    await import_rows(db, tenant.app_id, as_stream([near]))  # as another process would: only the version moves
    assert [h.poi.name for h in await search.nearest(db, tenant.app_id, "ATM", 50.85, 4.35, 1)] == ["Near"]
