"""Bench: nearest-k points of interest, on real PostgreSQL/PostGIS (a scratch database, dropped at the end).

1,000,000 POIs in 20 categories uniform over Belgium (``--quick``: 100,000). Figures: the import rate through the
real upload path (CSV parse + validation + H3 + COPY into a stage + upsert into the GiST-indexed table, one
transaction), the in-memory index build (k-d trees from loaded POIs) and its load from PostgreSQL, and p50/p99 of
k=5 nearest of one category, one query at a time at random points in Belgium, (a) PostGIS ``<->`` through the
asyncpg pool, (b) the in-memory k-d tree, (c) ``GET /v1/pois/nearest`` end to end over HTTP on localhost.

    .venv/bin/python bench/knn.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
from aiohttp import web

from lbs import migrate
from lbs.apikeys import create_key
from lbs.db import create_pool
from lbs.pois.categories import CATEGORIES
from lbs.pois.index import build_index
from lbs.pois.loader import import_rows
from lbs.pois.parse import Counter, parse_csv
from lbs.pois.store import fetch_all, nearest_postgis
from lbs.settings import Settings

BELGIUM = (2.55, 49.50, 6.40, 51.50)  # min_lon, min_lat, max_lon, max_lat
K = 5
SEED = 7


def write_csv(path: Path, n: int) -> None:
    rng = random.Random(SEED)
    codes = sorted(CATEGORIES)
    with path.open("w") as f:
        f.write("id,name,category,lat,lon,address,phone,opening_hours\n")
        for i in range(n):
            lat, lon = rng.uniform(BELGIUM[1], BELGIUM[3]), rng.uniform(BELGIUM[0], BELGIUM[2])
            f.write(f"b{i},Place {i},{codes[i % len(codes)]},{lat:.6f},{lon:.6f},Street {i % 500} {i % 97},,\n")


async def chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            yield chunk


def queries(n: int) -> list[tuple[str, float, float]]:
    rng = random.Random(SEED + 1)
    codes = sorted(CATEGORIES)
    return [
        (rng.choice(codes), rng.uniform(BELGIUM[1], BELGIUM[3]), rng.uniform(BELGIUM[0], BELGIUM[2])) for _ in range(n)
    ]


def pct(samples: list[float], p: float) -> float:
    return statistics.quantiles(samples, n=1000, method="inclusive")[int(p * 10) - 1] if len(samples) > 1 else 0.0


def line(name: str, value: float, unit: str) -> None:
    print(f"{name}: {value:.4g} {unit}", flush=True)


async def bench_import(conn: asyncpg.Connection[Any], app_id: int, path: Path, rows: int) -> None:
    started = time.perf_counter()
    report = await import_rows(conn, app_id, parse_csv(chunks(path), Counter(1 << 40, rows), 9), batch_size=10_000)
    took = time.perf_counter() - started
    assert report.inserted == rows
    line("poi_import_rows_per_s", rows / took, "rows/s")
    await conn.execute("ANALYZE pois")


async def bench_postgis(pool: asyncpg.Pool[Any], app_id: int, qs: list[tuple[str, float, float]]) -> None:
    samples = []
    async with pool.acquire() as conn:
        for category, lat, lon in qs[:200]:  # warm the buffer cache and the statement cache
            await nearest_postgis(conn, app_id, category, lat, lon, K)
        for category, lat, lon in qs:
            started = time.perf_counter()
            hits = await nearest_postgis(conn, app_id, category, lat, lon, K)
            samples.append((time.perf_counter() - started) * 1000)
            assert len(hits) == K
    line("knn_postgis_p50_ms", pct(samples, 50), "ms")
    line("knn_postgis_p99_ms", pct(samples, 99), "ms")


async def bench_memory(conn: asyncpg.Connection[Any], app_id: int, qs: list[tuple[str, float, float]]) -> None:
    started = time.perf_counter()
    rows = [tuple(r) for r in await fetch_all(conn, app_id)]
    line("knn_index_load_s", time.perf_counter() - started, "s")
    started = time.perf_counter()
    trees = build_index(rows)
    line("knn_index_build_s", time.perf_counter() - started, "s")
    samples = []
    for category, lat, lon in qs:
        started = time.perf_counter()
        hits = trees[category].nearest(lat, lon, K)
        samples.append((time.perf_counter() - started) * 1000)
        assert len(hits) == K
    line("knn_memory_p50_ms", pct(samples, 50), "ms")
    line("knn_memory_p99_ms", pct(samples, 99), "ms")


async def bench_http(settings: Settings, token: str, qs: list[tuple[str, float, float]]) -> None:
    from api.app import create_app
    from api.pois import setup_poi_routes

    app = create_app(settings)
    setup_poi_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.api_port).start()
    url = f"http://127.0.0.1:{settings.api_port}/v1/pois/nearest"
    headers = {"Authorization": f"Bearer {token}"}
    samples = []
    try:
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(url, params={"lat": "50.85", "lon": "4.35", "category": "ATM"}) as resp:
                assert resp.status == 200, await resp.text()  # loads the in-memory index
            for category, lat, lon in qs:
                params = {"lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "category": category, "k": str(K)}
                started = time.perf_counter()
                async with http.get(url, params=params) as resp:
                    body = await resp.json()
                samples.append((time.perf_counter() - started) * 1000)
                assert resp.status == 200 and len(body["pois"]) == K, body
    finally:
        await runner.cleanup()
    line("knn_http_p50_ms", pct(samples, 50), "ms")
    line("knn_http_p99_ms", pct(samples, 99), "ms")


async def tenant(conn: asyncpg.Connection[Any]) -> tuple[int, str]:
    provider_id = await conn.fetchval("INSERT INTO providers (name) VALUES ('Bench') RETURNING id")
    app_id = await conn.fetchval("INSERT INTO applications (provider_id, name) VALUES ($1, 'BENCH') RETURNING id",
                                 provider_id)  # fmt: skip
    return int(app_id), await create_key(conn, role="provider", name="bench", provider="Bench")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(url: str, rows: int, n_queries: int) -> None:
    settings = Settings(database_url=url, api_port=free_port(), smpp_enabled=False, db_pool_max=4,
                        pois_memory_index=True)  # fmt: skip
    conn = await asyncpg.connect(url)
    pool = await create_pool(settings)
    try:
        app_id, token = await tenant(conn)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "pois.csv"
            write_csv(path, rows)
            await bench_import(conn, app_id, path, rows)
        qs = queries(n_queries)
        await bench_postgis(pool, app_id, qs)
        await bench_memory(conn, app_id, qs)
        await bench_http(settings, token, qs)
    finally:
        await pool.close()
        await conn.close()


async def admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k POIs, 2,000 queries per path (under 60 s)")
    args = parser.parse_args()
    rows, n_queries = (100_000, 2_000) if args.quick else (1_000_000, 10_000)
    base = Settings().database_url
    name = f"lbs_bench_knn_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(admin(base, f'CREATE DATABASE "{name}"'))
    url = urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
    try:
        migrate.upgrade(url)
        print(f"# {rows:,} POIs in {len(CATEGORIES)} categories over Belgium; k={K}; {n_queries:,} queries per path")
        asyncio.run(run(url, rows, n_queries))
    finally:
        asyncio.run(admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
