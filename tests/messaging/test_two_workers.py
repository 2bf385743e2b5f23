"""Two platform processes' worth of messaging cores, two binds, one short code: together they keep to its tier."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import asyncpg
import redis.asyncio as aioredis

from api.demo import smsc_settings_for, start_platform, start_smsc
from api.demo_data import load
from api.keys import MESSAGING_KEY
from lbs.messaging.outbox import MtRequest
from lbs.settings import Settings
from tests.conftest import free_port

TIER = 20
COUNT = 41  # 40 intervals of 1/20 s: at least 2 s whoever sends them


async def test_two_workers_share_the_tier(
    settings: Settings, db: asyncpg.Connection[Any], redis_client: aioredis.Redis
) -> None:
    await load(db, settings)
    await db.execute("UPDATE short_codes SET throughput_tps = $1", TIER)
    stop_smsc = await start_smsc(smsc_settings_for(settings))
    app_a, stop_a = await start_platform(settings)
    second = {"api_port": free_port(), "mlp_push_port": free_port()}  # a second API process: its own listeners
    _, stop_b = await start_platform(settings.model_copy(update=second))
    try:
        for i in range(COUNT):
            await app_a[MESSAGING_KEY].send(MtRequest(f"+3247000{i % 10:04d}", f"tier test {i}", "3311"))
        deadline = asyncio.get_running_loop().time() + 20
        while await db.fetchval("SELECT count(*) FROM mt_messages WHERE status = 'delivered'") < COUNT:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        first, last = await db.fetchrow("SELECT min(submitted_at), max(submitted_at) FROM mt_messages")
        spread = (last - first).total_seconds()
        # The bucket admits one message of tolerance, so the spread is at least (COUNT - 2) intervals (less a few
        # ms: submitted_at is stamped when the response is recorded, not when the PDU left).
        assert spread >= (COUNT - 2) / TIER * 0.97, spread
        assert spread <= (COUNT - 1) / TIER * 1.5, spread  # and the tier is used, not starved
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{settings.smsc_control_port}/sim/health") as resp,
        ):
            binds = [b for b in (await resp.json())["binds"] if b["system_id"] == "demo"]
        assert len(binds) == 2 and all(b["submits"] > 0 for b in binds)  # both workers sent
    finally:
        await stop_b()
        await stop_a()
        await stop_smsc()
