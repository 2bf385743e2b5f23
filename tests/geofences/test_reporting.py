"""Triggered reporting at the LES follows consent and promotions (a fake MLP client records the requests)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from geofences.presence import presence_key
from geofences.reporting import REPORTING_KEY, ReportingManager
from lbs.consent.decision import Purpose
from lbs.consent.projection import Action, ConsentEvent
from lbs.consent.registry import Source, Subject, record
from lbs.db import create_pool
from lbs.mlp import ReportRequest, ResultCode, UnknownSubscriber
from lbs.pseudonym import pseudonym
from lbs.settings import Settings
from tests.geofences.test_promotions_api import NOW, auth, create, grant_to

A, B, C = "+32470000001", "+32470000002", "+32470000003"


class FakeLes:
    def __init__(self) -> None:
        self.started: list[ReportRequest] = []
        self.services: list[str | None] = []
        self.stopped: list[str] = []

    async def start_reports(self, request: ReportRequest, *, service: str | None = None) -> str:
        if request.msisdns == ("+32470000009",):
            raise UnknownSubscriber("no such subscriber", result_code=ResultCode.UNKNOWN_SUBSCRIBER)
        self.started.append(request)
        self.services.append(service)
        return f"req-{len(self.started)}"

    async def stop_reports(self, req_id: str) -> None:
        self.stopped.append(req_id)


async def test_reporting_follows_consent_and_promotions(
    client: TestClient,
    keys: dict[str, str],
    db: asyncpg.Connection[Any],
    settings: Settings,
    redis_client: aioredis.Redis,
) -> None:
    promo = await create(client, keys["promocity"])
    await grant_to(db, A, Purpose.GEOFENCING)
    await grant_to(db, C, Purpose.GEOFENCING)
    await grant_to(db, "+32470000009", Purpose.GEOFENCING)  # the LES does not know this one
    await db.execute("INSERT INTO subscribers (msisdn) VALUES ($1)", B)  # no grant
    await db.execute("UPDATE subscribers SET location_paused_until = $2 WHERE msisdn = $1", C, NOW + timedelta(hours=2))
    les = FakeLes()
    pool = await create_pool(settings)
    try:
        manager = ReportingManager(pool, redis_client, les, settings, clock=lambda: NOW)
        assert await manager.reconcile() == (1, 0)
        assert [r.msisdns for r in les.started] == [(A,)] and les.started[0].interval_s == 60
        assert await manager.running() == {A: "req-1"}
        assert les.services == ["PROMOCITY"]  # asked on the application's behalf: the LES checks its consent
        assert await manager.reconcile() == (0, 0)  # nothing to change
        await redis_client.hset(presence_key(A), "_t", "1.0")
        subject = Subject(A, pseudonym(settings.pseudonym_key, A))
        await record(
            db, subject, ConsentEvent(Action.REVOKE, NOW, "PROMOCITY", Purpose.GEOFENCING), Source("api", "t", {})
        )
        assert await manager.reconcile() == (0, 1)
        assert les.stopped == ["req-1"] and await redis_client.exists(presence_key(A), REPORTING_KEY) == 0
        await grant_to(db, A, Purpose.GEOFENCING)
        await client.post(f"/v1/promotions/{promo['id']}/pause", headers=auth(keys["promocity"]))
        assert await manager.wanted() == {}  # no active promotion for the application
    finally:
        await pool.close()
