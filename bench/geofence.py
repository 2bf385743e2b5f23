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
import json
import math
import os
import resource
import secrets
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
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
from lbs.clock import system_clock
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


# --- end to end: stream -> 2 worker processes -> transitions -> triggers/outbox ------------------------------------

BENCH_REDIS_DB = 12  # the pipeline's own Redis db index; only its gf:* keys are deleted at the end


def _pipeline_worker(consumer: str) -> None:
    """Child process: one geofence worker with settings from the environment, until terminated."""
    from lbs.db import create_pool

    async def serve() -> None:
        import redis.asyncio as aioredis

        from geofences.worker import GeofenceWorker

        settings = Settings()
        pool = await create_pool(settings)
        redis = aioredis.Redis.from_url(settings.redis_url)
        await GeofenceWorker(settings, pool, redis, consumer, clock=system_clock).run(asyncio.Event())

    asyncio.run(serve())


async def _seed_pipeline(db: Any, fences: list[Fence], walkers: list[str], key: str) -> None:
    from geofences.model import shape_to_geojson
    from lbs.consent.decision import Precision, Purpose
    from lbs.consent.registry import Source, Subject, grant_event, record
    from lbs.pseudonym import pseudonym

    provider = await db.fetchval("INSERT INTO providers (name) VALUES ('PromoCity') RETURNING id")
    app = await db.fetchval(
        "INSERT INTO applications (provider_id, name) VALUES ($1, 'PROMOCITY') RETURNING id", provider
    )
    now = datetime.now(UTC)
    rows = [
        (provider, app, f"promo {f.id}", "PROMOCITY", json.dumps(shape_to_geojson(f.shape)), "enter", "{name}!", "3311",
         now - timedelta(days=1), now + timedelta(days=30))
        for f in fences
    ]  # fmt: skip
    await db.executemany(
        "INSERT INTO promotions (provider_id, application_id, name, brand, fence, trigger, template, source,"
        " valid_from, valid_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        rows,
    )
    await db.executemany("INSERT INTO subscribers (msisdn) VALUES ($1)", [(m,) for m in walkers])
    for msisdn in walkers:
        for purpose in (Purpose.GEOFENCING, Purpose.MARKETING):
            event = grant_event("PROMOCITY", purpose, Precision.EXACT, now - timedelta(hours=1), timedelta(days=30))
            await record(db, Subject(msisdn, pseudonym(key, msisdn)), event, Source("api", "bench", {}))


def _background(n_subs: int, rounds: int) -> list[Report]:
    """Subscribers mostly standing still (10 m jitter, 20 m accuracy): few transitions, as in a real population."""
    rng = np.random.default_rng(POINT_SEED + 1)
    box = box_deg(250)
    lon, lat = rng.uniform(box[0], box[2], n_subs), rng.uniform(box[1], box[3], n_subs)
    t0 = time.time() - 3600
    kx = math.cos(math.radians(CENTRE[1])) * M_PER_DEG
    return [
        Report(f"+3249{s:07d}", float(lon[s] + rng.normal(0, 10) / kx), float(lat[s] + rng.normal(0, 10) / M_PER_DEG),
               20.0, t0 + 60 * r)
        for r in range(rounds) for s in range(n_subs)
    ]  # fmt: skip


def _start_workers(env: dict[str, str], n: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, __file__, "--pipeline-worker", f"w{i}"], env=env) for i in range(n)]


async def _drained(redis: Any, settings: Settings) -> bool:
    groups = await redis.xinfo_groups(settings.geofence_stream)
    group = next(g for g in groups if g["name"].decode() == settings.geofence_group)
    return bool(group["lag"] == 0 and group["pending"] == 0)


async def _lag(redis: Any, settings: Settings) -> int:
    groups = await redis.xinfo_groups(settings.geofence_stream)
    group = next(g for g in groups if g["name"].decode() == settings.geofence_group)
    return int(group["lag"] or 0) + int(group["pending"])


async def pipeline(quick: bool) -> tuple[float, float, str]:
    """(reports/s through 2 worker processes, trigger latency p99 in ms, a comment line)."""
    import asyncpg
    import redis.asyncio as aioredis

    from geofences.worker import GeofenceWorker, publish
    from lbs import migrate

    base = Settings()
    name = f"lbs_bench_pipeline_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(base.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = urlunsplit(urlsplit(base.database_url)._replace(path=f"/{name}"))
    redis_url = urlunsplit(urlsplit(base.redis_url)._replace(path=f"/{BENCH_REDIS_DB}"))
    stream = f"gf:bench:{os.getpid()}"
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "LBS_GEOFENCE_STREAM": stream,
           "LBS_GEOFENCE_SYNC_S": "3600", "LBS_GEOFENCE_BLOCK_MS": "50", "LBS_DB_POOL_MAX": "4"}  # fmt: skip
    settings = Settings(database_url=url, redis_url=redis_url, geofence_stream=stream)
    redis = aioredis.Redis.from_url(redis_url)
    children: list[subprocess.Popen[bytes]] = []
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        walkers = [f"+3248{i:07d}" for i in range(50)]
        db = await asyncpg.connect(url)
        fences = [f for f in make_fences(10_000, box_deg(250)) if isinstance(f.shape, Circle) or f.shape.is_valid]
        await _seed_pipeline(db, fences, walkers, settings.pseudonym_key)
        centre = await db.fetchval("SELECT fence FROM promotions WHERE fence ? 'center' ORDER BY id LIMIT 1")
        await GeofenceWorker(settings, None, redis, clock=system_clock).ensure_group()  # type: ignore[arg-type]
        n_subs = 10_000 if quick else 50_000
        everything = _background(n_subs, 5)
        warm, reports = everything[:n_subs], everything[n_subs:]
        await publish(redis, settings, warm)  # first reports: everyone's initial presence (cold start, not timed)
        children = _start_workers(env, 2)
        while not await _drained(redis, settings):  # noqa: ASYNC110 (polling other processes)
            await asyncio.sleep(0.05)
        cold = await db.fetchval("SELECT count(*) FROM promotion_triggers")
        for i in range(0, len(reports), 10_000):
            await publish(redis, settings, reports[i : i + 10_000])
        total = len(reports)
        while await _lag(redis, settings) >= total:  # noqa: ASYNC110 (polling other processes)
            await asyncio.sleep(0.005)
        started = time.perf_counter()
        while not await _drained(redis, settings):  # noqa: ASYNC110 (polling other processes)
            await asyncio.sleep(0.02)
        rate = total / (time.perf_counter() - started)
        steady = await db.fetchval("SELECT count(*) FROM promotion_triggers") - cold
        p99 = await _latency(db, redis, settings, walkers, json.loads(centre), rate, n_subs)
        await db.close()
    finally:
        for child in children:
            child.terminate()
            child.wait(10)
        async for key in redis.scan_iter(match="gf:*", count=10_000):
            await redis.delete(key)
        await redis.aclose()
        admin = await asyncpg.connect(base.database_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    comment = (
        f"# pipeline: {total} timed reports from {n_subs} subscribers, {len(fences)} promotions, 2 worker processes;"
        f" {cold} triggers in the untimed first round, {steady} in the timed rounds"
    )
    return rate, p99, comment


async def _latency(
    db: Any, redis: Any, settings: Settings, walkers: list[str], fence: dict[str, Any], rate: float, n_subs: int
) -> float:
    """Walkers step into a fence (enter) amid background load at a third of the measured rate: p99 latency from the
    report's time to its trigger row (rules decided, MT in the outbox)."""
    from geofences.worker import publish
    from lbs.pseudonym import pseudonym

    lon, lat = fence["center"]
    background = _background(n_subs, 1)  # the same subscribers where they were (a new draw would teleport them)
    per_tick = max(1, int(rate / 3 / 50))  # a third of the measured rate, 50 ticks a second
    walker_steps = [(w, k) for k in range(3) for w in walkers]
    steps_per_tick = 1  # one walker step per tick (50 a second): about 3 s of walking
    i = 0
    while walker_steps:
        now = time.time()
        batch = [replace(r, at=now - 1) for r in background[i : i + per_tick]]
        i = (i + per_tick) % max(1, len(background) - per_tick)
        for msisdn, k in walker_steps[:steps_per_tick]:
            offset = 0.05 if k == 0 else 0.0  # far away, then twice on the centre
            batch.append(Report(msisdn, lon, lat + offset, 0.0, now + k * 1e-3))
        walker_steps = walker_steps[steps_per_tick:]
        await publish(redis, settings, batch)
        await asyncio.sleep(0.02)
    while not await _drained(redis, settings):  # noqa: ASYNC110 (polling another process)
        await asyncio.sleep(0.02)
    subjects = [pseudonym(settings.pseudonym_key, w) for w in walkers]
    rows = await db.fetch(
        "SELECT extract(epoch FROM occurred_at) AS handled, idempotency_key FROM promotion_triggers"
        " WHERE transition = 'enter' AND subject = ANY($1)",
        subjects,
    )
    latencies = [(float(r["handled"]) - float(r["idempotency_key"].rsplit(":", 1)[1])) * 1000 for r in rows]
    print(f"# trigger latency: {len(latencies)} enters, median {statistics.median(latencies):.1f} ms", file=sys.stderr)
    return statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, same lines (under 60 s)")
    parser.add_argument("--pipeline-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pipeline_worker:
        _pipeline_worker(args.pipeline_worker)
        return
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
    pipe_rate, trigger_p99, comment = asyncio.run(pipeline(args.quick))
    print(comment)
    print(f"pipeline_reports_per_s: {pipe_rate:.0f} reports/s")
    print(f"trigger_p99_ms: {trigger_p99:.1f} ms")


if __name__ == "__main__":
    main()
