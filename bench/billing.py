"""Bench: how fast billing rates and records, on real PostgreSQL (a scratch database, dropped at the end).

Figures: pure rating (units priced per second, tiered plan), CDRs recorded per second by one connection inside
one transaction per event (postpaid, then prepaid with a balance debit per CDR), CDRs per second with 8
connections in parallel on one provider (the month counter row serialises them), CDRs per second through
``record_many`` in batches of 500 (one pushed tlrep document), and the time to close a month with every CDR.

    .venv/bin/python bench/billing.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from lbs import migrate
from lbs.billing import LocationKind, LocationResult, record, record_many
from lbs.billing.plans import create_contract, create_plan
from lbs.billing.prepaid import top_up
from lbs.billing.rating import Account, ChargingPoint, EventRate, EventType, FeeSchedule, RatePlan, Tier, price_of_unit
from lbs.billing.statements import close_month
from lbs.settings import Settings

RATE = EventRate((Tier(0, 5), Tier(1_000, 4), Tier(10_000, 3), Tier(100_000, 2)), free_units=100)
PLAN = RatePlan("BENCH", "bench", "EUR", ChargingPoint.SUBMISSION, {EventType.LOCATION_PASSIVE: RATE})
AT = datetime(2025, 3, 10, tzinfo=UTC)


def bench_rating(units: int) -> float:
    started = time.perf_counter()
    total = 0
    for n in range(units):
        total += price_of_unit(RATE, n)
    assert total > 0
    return units / (time.perf_counter() - started)


def event(pid: int, key: str) -> LocationResult:
    return LocationResult(idempotency_key=key, provider_id=pid, occurred_at=AT, kind=LocationKind.PASSIVE)


async def sequential(conn: asyncpg.Connection[Any], pid: int, n: int, tag: str) -> float:
    started = time.perf_counter()
    for i in range(n):
        async with conn.transaction():
            await record(conn, event(pid, f"{tag}{i}"))
    return n / (time.perf_counter() - started)


async def parallel(url: str, pid: int, n: int, workers: int) -> float:
    pool = await asyncpg.create_pool(url, min_size=workers, max_size=workers)
    assert pool is not None

    async def worker(w: int) -> None:
        async with pool.acquire() as conn:
            for i in range(w, n, workers):
                await record(conn, event(pid, f"par{i}"))  # type: ignore[arg-type]

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(workers)))
    elapsed = time.perf_counter() - started
    await pool.close()
    return n / elapsed


async def batched(conn: asyncpg.Connection[Any], pid: int, n: int, size: int) -> float:
    started = time.perf_counter()
    for first in range(0, n, size):
        await record_many(conn, [event(pid, f"batch{i}") for i in range(first, min(n, first + size))])
    return n / (time.perf_counter() - started)


async def run(url: str, n: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        ids = [r[0] for r in await conn.fetch("INSERT INTO providers (name) VALUES ('Post'), ('Pre') RETURNING id")]
        await create_plan(conn, PLAN)
        for pid, account in zip(ids, (Account.POSTPAID, Account.PREPAID), strict=True):
            await create_contract(
                conn, provider_id=pid, plan_code="BENCH", account=account, valid_from=date(2025, 1, 1), valid_to=None
            )
        await top_up(conn, ids[1], 10_000_000, idempotency_key="bench", now=datetime.now(UTC))
        print(f"billing_record_postpaid_per_s: {await sequential(conn, ids[0], n, 'post'):.0f} cdr/s")
        print(f"billing_record_prepaid_per_s: {await sequential(conn, ids[1], n, 'pre'):.0f} cdr/s")
        print(f"billing_record_parallel8_per_s: {await parallel(url, ids[0], n, 8):.0f} cdr/s")
        print(f"billing_record_many500_per_s: {await batched(conn, ids[0], n * 10, 500):.0f} cdr/s")
        total = await conn.fetchval("SELECT count(*) FROM billing_cdrs")
        started = time.perf_counter()
        await close_month(conn, date(2025, 3, 1), closed_by="bench", schedule=FeeSchedule())
        print(f"billing_close_month_s: {time.perf_counter() - started:.3f} s ({total} cdrs)")
    finally:
        await conn.close()


async def admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under 60 s")
    args = parser.parse_args()
    n = 500 if args.quick else 3_000
    print(f"billing_rating_units_per_s: {bench_rating(200_000 if args.quick else 2_000_000):.0f} units/s")
    base = Settings().database_url
    name = f"lbs_bench_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(admin(base, f'CREATE DATABASE "{name}"'))
    url = urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
    try:
        migrate.upgrade(url)
        asyncio.run(run(url, n))
    finally:
        asyncio.run(admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
