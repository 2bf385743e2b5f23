"""Bench: the geofence engine against PostGIS and a shapely STRtree, in the same run, on one core.

100,000 fences (70 % circles of 50-2,000 m, 30 % star polygons of 5-50 vertices and 100-2,000 m) over a
250 km x 250 km box around Belgium (about 6 fences contain an average report); 100,000 subscribers moving by a
random walk (about 60 m between reports, accuracy 5-150 m) send 1,000,000 position reports in rounds of one report
each. ``--quick``: a quarter of the box side and fences in proportion (same density), 200,000 reports.

Figures (one ``name: value unit`` line each):

- ``geofence_reports_per_s_per_core``: reports -> transitions (index query + presence diff + hysteresis) in bulk,
  micro-batches of 10,000, presence in memory (:class:`geofences.engine.MemoryPresence`).
- ``geofence_speedup_vs_strtree``: that rate over a shapely ``STRtree.query(points, predicate="intersects")``
  bulk query on the same fences (circles as 64-gons) -- containment only, so the comparison favours STRtree.
- ``geofence_speedup_vs_postgis``: that rate over a naive per-report ``ST_Intersects`` on a GiST-indexed scratch
  table (a scratch database created and dropped here), one report per round trip.
- ``geofence_p99_us``: p99 compute time of one report handled alone (query + transitions).
- ``geofence_dense_reports_per_s_per_core``: the same fences in a 50 km box (about 140 containing fences/report).
- ``geofence_rebuild_s``, ``geofence_update_ms`` (median single-fence upsert into the full index),
  ``geofence_index_mb`` (index arrays; prepared geometries counted separately as ``geofence_index_rss_mb``).

    .venv/bin/python bench/geofence.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import secrets
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geofences.bulk import PairTable, evaluate
from geofences.engine import Engine
from geofences.geo import M_PER_DEG
from geofences.index import FenceIndex
from geofences.model import Circle, Fence, Shape
from geofences.transitions import FenceState, Hysteresis, Report, advance, apply
from lbs.settings import Settings

CENTRE = (4.47, 50.64)  # Belgium
FENCE_SEED, POINT_SEED = 12345, 54321
BATCH = 10_000


def box_deg(side_km: float) -> tuple[float, float, float, float]:
    dlat = side_km * 500 / M_PER_DEG
    dlon = side_km * 500 / (M_PER_DEG * math.cos(math.radians(CENTRE[1])))
    return CENTRE[0] - dlon, CENTRE[1] - dlat, CENTRE[0] + dlon, CENTRE[1] + dlat


def star(rng: np.random.Generator, lon: float, lat: float, radius_m: float, n: int) -> shapely.Polygon:
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = radius_m * rng.uniform(0.4, 1.0, n)
    xs = lon + radii * np.cos(angles) / (M_PER_DEG * math.cos(math.radians(lat)))
    ys = lat + radii * np.sin(angles) / M_PER_DEG
    return shapely.Polygon(np.c_[xs, ys])


def make_fences(count: int, box: tuple[float, float, float, float]) -> list[Fence]:
    rng = np.random.default_rng(FENCE_SEED)
    lon = rng.uniform(box[0], box[2], count)
    lat = rng.uniform(box[1], box[3], count)
    fences = []
    for i in range(count):
        shape: Shape
        if rng.random() < 0.7:
            shape = Circle(float(lon[i]), float(lat[i]), float(rng.uniform(50, 2000)))
        else:
            shape = star(rng, float(lon[i]), float(lat[i]), float(rng.uniform(100, 2000)), int(rng.integers(5, 51)))
        fences.append(Fence(i + 1, shape))
    return fences


def as_polygons(fences: list[Fence], sides: int = 64) -> list[shapely.Geometry]:
    """Circles as regular polygons (for STRtree and PostGIS)."""
    theta = np.linspace(0, 2 * np.pi, sides + 1)
    out: list[shapely.Geometry] = []
    for f in fences:
        s = f.shape
        if isinstance(s, Circle):
            kx = math.cos(math.radians(s.lat)) * M_PER_DEG
            out.append(
                shapely.Polygon(
                    np.c_[s.lon + s.radius_m * np.cos(theta) / kx, s.lat + s.radius_m * np.sin(theta) / M_PER_DEG]
                )
            )
        else:
            out.append(s)
    return out


def make_reports(subscribers: int, rounds: int, box: tuple[float, float, float, float]) -> tuple[np.ndarray, ...]:
    """Round-major reports: (subscriber, lon, lat, accuracy, at)."""
    rng = np.random.default_rng(POINT_SEED)
    lon = rng.uniform(box[0], box[2], subscribers)
    lat = rng.uniform(box[1], box[3], subscribers)
    kx = math.cos(math.radians(CENTRE[1])) * M_PER_DEG
    subs, lons, lats, accs, ats = [], [], [], [], []
    for r in range(rounds):
        lon = lon + rng.normal(0, 42, subscribers) / kx  # ~60 m between reports
        lat = lat + rng.normal(0, 42, subscribers) / M_PER_DEG
        subs.append(np.arange(subscribers, dtype=np.int64))
        lons.append(lon)
        lats.append(lat)
        accs.append(rng.uniform(5, 150, subscribers))
        ats.append(np.full(subscribers, 60.0 * (r + 1)))
    return tuple(np.concatenate(a) for a in (subs, lons, lats, accs, ats))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def engine_rate(engine: Engine, reports: tuple[np.ndarray, ...], subscribers: int, limit_s: float) -> tuple[float, int]:
    """Reports per second through evaluate_bulk in batches; (rate, transitions)."""
    sub, lon, lat, acc, at = reports
    table = PairTable.empty(subscribers)
    transitions = 0
    started = time.perf_counter()
    done = 0
    for i in range(0, len(sub), BATCH):
        s = slice(i, i + BATCH)
        table, events = evaluate(engine.index, engine.hysteresis, table, sub[s], lon[s], lat[s], acc[s], at[s])
        transitions += len(events)
        done = min(i + BATCH, len(sub))
        if time.perf_counter() - started > limit_s:
            break
    return done / (time.perf_counter() - started), transitions


def single_p99_us(engine: Engine, reports: tuple[np.ndarray, ...], subscribers: int, n: int) -> float:
    """p99 of one report handled alone (index lookup + transitions), after a first untimed report each."""
    sub, lon, lat, acc, at = reports
    states: dict[int, dict[int, FenceState]] = {}
    times = []
    for i in [*range(n), *range(subscribers, subscribers + n)]:
        t0 = time.perf_counter_ns()
        s = int(sub[i])
        report = Report(str(s), float(lon[i]), float(lat[i]), float(acc[i]), float(at[i]))
        old = states.get(s, {})
        changes, _ = advance(
            old,
            engine.index.hits(report.lon, report.lat),
            report,
            engine.index.edge_distance_one,
            engine.hysteresis,
            engine.dwell_of,
            engine.index.__contains__,
        )
        if changes:
            states[s] = apply(old, changes)
        if i >= subscribers:
            times.append((time.perf_counter_ns() - t0) / 1000)
    return statistics.quantiles(times, n=100)[98]


def strtree_rate(geoms: list[shapely.Geometry], lon: np.ndarray, lat: np.ndarray) -> tuple[float, float]:
    tree = shapely.STRtree(geoms)
    pts = shapely.points(lon, lat)
    started = time.perf_counter()
    pairs = tree.query(pts, predicate="intersects")
    elapsed = time.perf_counter() - started
    return len(pts) / elapsed, pairs.shape[1] / len(pts)


async def postgis_rate(geoms: list[shapely.Geometry], lon: np.ndarray, lat: np.ndarray, seconds: float) -> float:
    import asyncpg

    from lbs.db import init_connection

    admin = Settings().database_url
    name = f"lbs_bench_geofence_{os.getpid()}_{secrets.token_hex(3)}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        db = await asyncpg.connect(urlunsplit(urlsplit(admin)._replace(path=f"/{name}")))
        await db.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        await init_connection(db)
        await db.execute("CREATE TABLE fences (id bigint PRIMARY KEY, geom geometry(Polygon, 4326) NOT NULL)")
        await db.copy_records_to_table("fences", records=[(i + 1, g) for i, g in enumerate(geoms)])
        await db.execute("CREATE INDEX ON fences USING gist (geom)")
        await db.execute("ANALYZE fences")
        query = "SELECT id FROM fences WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326))"
        stmt = await db.prepare(query)
        for i in range(200):  # warm the cache and the plan
            await stmt.fetch(float(lon[i]), float(lat[i]))
        done = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds and done < len(lon):
            await stmt.fetch(float(lon[done]), float(lat[done]))
            done += 1
        rate = done / (time.perf_counter() - started)
        await db.close()
    finally:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
    return rate


def update_ms(index: FenceIndex, fences: list[Fence], n: int) -> tuple[float, float]:
    """(median, mean) milliseconds per single-fence upsert; the mean includes the automatic compactions."""
    times = []
    for i in range(n):
        old = fences[(i * 7919) % len(fences)]
        moved = Fence(old.id, old.shape) if i % 2 else Fence(len(fences) + 1 + i, old.shape)
        t0 = time.perf_counter()
        index.upsert(moved)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), statistics.fmean(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, same lines (under 60 s)")
    args = parser.parse_args()
    scale = 0.25 if args.quick else 1.0
    n_fences = int(100_000 * scale * scale)
    side = 250 * scale
    subscribers, rounds = (20_000, 10) if args.quick else (100_000, 10)
    settings = Settings()
    hysteresis = Hysteresis(settings.geofence_hysteresis_max_m, settings.geofence_hysteresis_factor, 2)

    fences = make_fences(n_fences, box_deg(side))
    index = FenceIndex(settings.geofence_circle_cell_deg, settings.geofence_polygon_cell_deg, 256)
    rss0 = rss_mb()
    t0 = time.perf_counter()
    index.rebuild(fences)
    rebuild_s = time.perf_counter() - t0
    rss1 = rss_mb()
    engine = Engine(index, hysteresis)
    reports = make_reports(subscribers, rounds, box_deg(side))
    rate, transitions = engine_rate(engine, reports, subscribers, limit_s=60.0 if not args.quick else 15.0)
    p99 = single_p99_us(engine, reports, subscribers, 5_000 if args.quick else 20_000)

    polygons = as_polygons(fences)
    n_str = 100_000 if args.quick else 200_000
    str_rate, hits = strtree_rate(polygons, reports[1][:n_str], reports[2][:n_str])
    pg_rate = asyncio.run(postgis_rate(polygons, reports[1], reports[2], 5.0 if args.quick else 15.0))

    dense_fences = make_fences(n_fences, box_deg(side / 5))
    dense = Engine(FenceIndex(settings.geofence_circle_cell_deg, settings.geofence_polygon_cell_deg), hysteresis)
    dense.index.rebuild(dense_fences)
    dense_reports = make_reports(subscribers, 2, box_deg(side / 5))
    dense_rate, _ = engine_rate(dense, dense_reports, subscribers, limit_s=10.0 if args.quick else 30.0)
    med_ms, mean_ms = update_ms(index, fences, 300)

    print(
        f"# {n_fences} fences, {len(reports[0])} reports, {hits:.1f} containing fences/report, "
        f"{transitions} transitions; maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    print(f"geofence_reports_per_s_per_core: {rate:.0f} reports/s")
    print(f"geofence_speedup_vs_postgis: {rate / pg_rate:.1f} x (PostGIS {pg_rate:.0f} reports/s)")
    print(f"geofence_speedup_vs_strtree: {rate / str_rate:.1f} x (STRtree {str_rate:.0f} reports/s)")
    print(f"geofence_p99_us: {p99:.1f} us")
    print(f"geofence_dense_reports_per_s_per_core: {dense_rate:.0f} reports/s")
    print(f"geofence_rebuild_s: {rebuild_s:.2f} s")
    print(f"geofence_update_ms: {med_ms:.2f} ms (mean with compactions {mean_ms:.2f} ms)")
    print(f"geofence_index_mb: {index.nbytes / 1e6:.1f} MB")
    print(f"geofence_index_rss_mb: {rss1 - rss0:.1f} MB")


if __name__ == "__main__":
    main()
