"""Geofence workers on the real stream, Redis and PostgreSQL: a worker killed mid-batch loses nothing, and no
trigger fires twice; promotion edits reach a running worker; the CLI hook."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from geofences.geo import M_PER_DEG
from geofences.presence import outbox_key
from geofences.transitions import Report
from geofences.worker import GeofenceWorker, parse_entry, publish, report_fields
from lbs.consent.decision import Purpose
from lbs.db import create_pool
from lbs.settings import Settings
from tests.geofences.test_promotions_api import GRAND_PLACE, NOW, auth, create, grant_to

SUBSCRIBERS = [f"+3247000{i:04d}" for i in range(1, 6)]


def walk(msisdn: str, t0: float) -> list[Report]:
    """Outside, then twice inside the 150 m circle around the Grand-Place (exact positions)."""
    far = GRAND_PLACE[1] + 500 / M_PER_DEG
    return [
        Report(msisdn, GRAND_PLACE[0], far, 0.0, t0),
        Report(msisdn, GRAND_PLACE[0], GRAND_PLACE[1], 0.0, t0 + 60),
        Report(msisdn, GRAND_PLACE[0], GRAND_PLACE[1] + 0.0002, 0.0, t0 + 120),
    ]


def worker_settings(settings: Settings, **changes: Any) -> Settings:
    values = {"geofence_stream": "gf:test", "geofence_claim_idle_ms": 60_000, "geofence_block_ms": 10, **changes}
    return settings.model_copy(update=values)


async def test_killed_worker_loses_nothing_and_nothing_fires_twice(
    client: TestClient,
    keys: dict[str, str],
    db: asyncpg.Connection[Any],
    settings: Settings,
    redis_client: aioredis.Redis,
) -> None:
    for msisdn in SUBSCRIBERS:
        await grant_to(db, msisdn, Purpose.GEOFENCING, Purpose.MARKETING)
    promo = await create(client, keys["promocity"])
    s = worker_settings(settings)
    pool = await create_pool(s)
    try:
        a = GeofenceWorker(s, pool, redis_client, "a", clock=lambda: NOW)
        b = GeofenceWorker(
            worker_settings(settings, geofence_claim_idle_ms=0), pool, redis_client, "b", clock=lambda: NOW
        )
        await a.ensure_group()
        await a.sync()
        await b.sync()
        t0 = NOW.timestamp() - 600
        await publish(redis_client, s, [r for m in SUBSCRIBERS[:3] for r in walk(m, t0)])
        # worker a takes the batch, commits presence and transitions, and dies before acting on them
        entries, _ = await a.take()
        assert len(entries) == 9
        reports = [r for r in (parse_entry(f) for _, f in entries) if r is not None]
        committed = await a.engine.process(a.store, reports)
        assert len(committed) == 3 and await redis_client.llen(outbox_key(SUBSCRIBERS[0])) == 1
        # more reports arrive; b claims a's pending entries first, then reads the new ones
        await publish(redis_client, s, [r for m in SUBSCRIBERS[3:] for r in walk(m, t0)])
        assert await b.run_once() == 9
        assert b.handled == 3
        assert await b.run_once() == 6
        assert b.handled == 5
        # a comes back and finishes what it had (the same transitions): the idempotency keys absorb them
        for report in reports:
            await a.drain([report.msisdn])
        assert await b.run_once() == 0
        await a.flush_counters()
        await b.flush_counters()
    finally:
        await pool.close()
    fired = await db.fetchval("SELECT count(*) FROM promotion_triggers WHERE outcome = 'fired'")
    sent = await db.fetchval("SELECT count(*) FROM mt_messages")
    assert fired == 5 and sent == 5
    pending = await redis_client.xpending(s.geofence_stream, s.geofence_group)
    assert pending["pending"] == 0
    resp = await client.get(f"/v1/promotions/{promo['id']}/report", headers=auth(keys["promocity"]))
    report = await resp.json()
    assert report["fired"] == 5 and report["transitions"] == 5 and report["positions"] >= 10


async def test_replayed_entries_after_a_crash_before_ack(
    client: TestClient,
    keys: dict[str, str],
    db: asyncpg.Connection[Any],
    settings: Settings,
    redis_client: aioredis.Redis,
) -> None:
    await grant_to(db, SUBSCRIBERS[0], Purpose.GEOFENCING, Purpose.MARKETING)
    await create(client, keys["promocity"])
    s = worker_settings(settings)
    pool = await create_pool(s)
    try:
        a = GeofenceWorker(s, pool, redis_client, "a", clock=lambda: NOW)
        await a.ensure_group()
        await a.sync()
        await publish(redis_client, s, walk(SUBSCRIBERS[0], NOW.timestamp() - 600))
        entries, _ = await a.take()
        reports = [r for r in (parse_entry(f) for _, f in entries) if r is not None]
        await a.engine.process(a.store, reports)
        await a.drain([SUBSCRIBERS[0]])  # acted on, then killed before XACK
        b = GeofenceWorker(
            worker_settings(settings, geofence_claim_idle_ms=0), pool, redis_client, "b", clock=lambda: NOW
        )
        await b.sync()
        assert await b.run_once() == 3
        assert b.handled == 0
    finally:
        await pool.close()
    assert await db.fetchval("SELECT count(*) FROM mt_messages") == 1
    # each position billed once to the application it serves, replays included
    cdrs = await db.fetch("SELECT event_type, application_id FROM billing_cdrs")
    assert len(cdrs) == 3 and {r["event_type"] for r in cdrs} == {"location_passive"}


def test_position_events() -> None:
    from geofences.charging import position_events

    reports = [Report("+32470000001", 4.35, 50.84, 10.0, 1764000000.5), Report("+32470000002", 4.35, 50.84, 10.0, 1.0)]
    events = position_events(reports, {"+32470000001": [(7, 3), (8, 4)]})
    assert [(e.idempotency_key, e.application_id, e.provider_id) for e in events] == [
        ("loc:gf:+32470000001:1764000000.5:7", 7, 3),
        ("loc:gf:+32470000001:1764000000.5:8", 8, 4),
    ]


async def test_edits_reach_a_running_worker(
    client: TestClient,
    keys: dict[str, str],
    db: asyncpg.Connection[Any],
    settings: Settings,
    redis_client: aioredis.Redis,
) -> None:
    s = worker_settings(settings)
    pool = await create_pool(s)
    try:
        w = GeofenceWorker(s, pool, redis_client, "w", clock=lambda: NOW)
        await w.ensure_group()
        await w.ensure_group()  # idempotent
        await w.sync()
        assert len(w.engine.index) == 0
        promo = await create(client, keys["promocity"])
        await w.sync()
        assert promo["id"] in w.engine.index
        await client.post(f"/v1/promotions/{promo['id']}/pause", headers=auth(keys["promocity"]))
        await w.sync()
        assert promo["id"] not in w.engine.index
        await client.post(f"/v1/promotions/{promo['id']}/resume", headers=auth(keys["promocity"]))
        await w.sync()
        assert w.engine.index.hits(*GRAND_PLACE) == [promo["id"]]
        await redis_client.xadd(s.geofence_stream, {"p": "+32470000001|x"})
        assert await w.run_once(block_ms=10) == 1  # malformed: acknowledged and dropped
        assert (await redis_client.xpending(s.geofence_stream, s.geofence_group))["pending"] == 0
    finally:
        await pool.close()


def test_entry_codec() -> None:
    report = Report("+32470000001", 4.35, 50.84, 12.5, 1764000000.25)
    fields = {k.encode(): v.encode() for k, v in report_fields(report).items()}
    assert parse_entry(fields) == report
    assert parse_entry({b"msisdn": b"+1"}) is None and parse_entry({b"p": b"+1|2|3"}) is None


def test_entries_with_impossible_values_are_dropped_not_retried() -> None:
    for p in ("+1|nan|50|0|1", "+1|4|inf|0|1", "+1|4|50|-1|1", "+1|4|50|0|1e300", "+1|200|50|0|1", "+1|4|50|0|-5"):
        assert parse_entry({b"p": p.encode()}) is None, p


async def test_a_failing_transition_is_retried_then_dead_lettered_and_the_others_go_on(
    client: TestClient,
    keys: dict[str, str],
    db: asyncpg.Connection[Any],
    settings: Settings,
    redis_client: aioredis.Redis,
) -> None:
    poisoned, healthy = SUBSCRIBERS[:2]
    await grant_to(db, poisoned, Purpose.GEOFENCING, Purpose.MARKETING)
    await grant_to(db, healthy, Purpose.GEOFENCING)  # no marketing: suppressed before the failing step
    promo = await create(client, keys["promocity"])
    # the API (operator view) reads the dead letters of the default stream
    s = worker_settings(
        settings, geofence_stream=settings.geofence_stream, geofence_claim_idle_ms=0, geofence_poison_tries=3
    )
    pool = await create_pool(s)
    try:
        w = GeofenceWorker(s, pool, redis_client, "w", clock=lambda: NOW)
        await w.ensure_group()
        await w.sync()
        # a row no code expects (written around the API, updated_at untouched): the send step raises for it
        await db.execute('UPDATE promotions SET fence = \'{"center": [4.35, 50.84], "radius_m": -1}\'')
        await publish(redis_client, s, [r for m in (poisoned, healthy) for r in walk(m, NOW.timestamp() - 600)])
        assert await w.run_once() == 6  # no exception escapes
        pending = await redis_client.xpending_range(s.geofence_stream, s.geofence_group, "-", "+", 10)
        assert len(pending) == 3  # the poisoned subscriber's entries wait; the healthy one's are acknowledged
        assert await w.run_once() == 3 and await w.run_once() == 3  # tries 2 and 3: buried
        assert (await redis_client.xpending(s.geofence_stream, s.geofence_group))["pending"] == 0
        assert await w.run_once() == 0
    finally:
        await pool.close()
    outcomes = await db.fetch("SELECT outcome FROM promotion_triggers ORDER BY id")
    assert [r["outcome"] for r in outcomes] == ["no_marketing_consent"]  # the failing one left no trace
    headers = auth(keys["operator"])
    body = await (await client.get("/v1/operator/dead-letters", headers=headers)).json()
    assert body["counts"] == {"transition": 1}
    (letter,) = body["dead_letters"]
    assert letter["kind"] == "transition" and letter["tries"] == 3 and "InvalidFence" in letter["error"]
    assert letter["ref"].startswith(f"t:{promo['id']}:enter:") and poisoned not in str(body)  # pseudonyms only
    assert (await client.get("/v1/operator/dead-letters", headers=auth(keys["promocity"]))).status == 403
    metrics = await (await client.get("/metrics")).text()
    assert 'lbs_geofence_dead_letters{kind="transition"} 1.0' in metrics


async def test_a_poison_entry_is_isolated_from_its_batch_and_dead_lettered(
    client: TestClient,
    keys: dict[str, str],
    db: asyncpg.Connection[Any],
    settings: Settings,
    redis_client: aioredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import geofences.worker as worker_module

    real_bill = worker_module.bill_positions

    async def bill(pool: Any, reports: Any, now: Any) -> int:  # a fault that only this subscriber's entry meets
        if any(r.msisdn == SUBSCRIBERS[4] for r in reports):
            raise KeyError("a bug met by one entry")
        return await real_bill(pool, reports, now)

    monkeypatch.setattr(worker_module, "bill_positions", bill)
    s = worker_settings(
        settings, geofence_stream=settings.geofence_stream, geofence_claim_idle_ms=0, geofence_poison_tries=2
    )
    pool = await create_pool(s)
    try:
        w = GeofenceWorker(s, pool, redis_client, "w", clock=lambda: NOW)
        await w.ensure_group()
        await publish(redis_client, s, [walk(m, NOW.timestamp())[0] for m in SUBSCRIBERS])
        assert await w.run_once() == 5
        assert (await redis_client.xpending(s.geofence_stream, s.geofence_group))["pending"] == 1
        assert await w.run_once() == 1
        assert (await redis_client.xpending(s.geofence_stream, s.geofence_group))["pending"] == 0
    finally:
        await pool.close()
    assert await db.fetchval("SELECT count(*) FROM billing_cdrs") == 0  # nobody here pays for positions
    body = await (await client.get("/v1/operator/dead-letters", headers=auth(keys["operator"]))).json()
    assert [(d["kind"], d["tries"]) for d in body["dead_letters"]] == [("entry", 2)]
    assert "KeyError" in body["dead_letters"][0]["error"] and SUBSCRIBERS[4] not in str(body)
    assert (await client.get("/v1/operator/dead-letters?limit=0", headers=auth(keys["operator"]))).status == 400


async def test_the_loop_survives_an_outage_and_any_error(settings: Settings, redis_client: aioredis.Redis) -> None:
    import asyncio

    from geofences.worker import _supervised

    stop = asyncio.Event()
    calls: list[int] = []

    async def step() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionRefusedError("postgres is restarting")
        if len(calls) == 2:
            raise RuntimeError("a bug")
        stop.set()
        return 0

    await asyncio.wait_for(_supervised(stop, "test", step), 5)
    assert len(calls) == 3
