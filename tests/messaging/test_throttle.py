"""The shared token bucket on the real Redis: two clients together keep to the rate."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from lbs.messaging.throttle import Throttle
from lbs.settings import Settings


async def test_two_clients_share_one_rate(redis_client: aioredis.Redis, settings: Settings) -> None:
    other = aioredis.Redis.from_url(settings.redis_url)
    try:
        a, b = Throttle(redis_client), Throttle(other)
        sent = 0
        started = time.perf_counter()

        async def worker(t: Throttle) -> None:
            nonlocal sent
            while time.perf_counter() - started < 2.0:
                await t.acquire("3311", 50)
                sent += 1

        await asyncio.gather(worker(a), worker(b))
        elapsed = time.perf_counter() - started
        # 50/s for ~2 s: within a few messages of 100, whatever the split between the two clients.
        assert abs(sent - 50 * elapsed) <= 4, (sent, elapsed)
    finally:
        await other.aclose()


async def test_keys_are_independent(redis_client: aioredis.Redis) -> None:
    t = Throttle(redis_client)
    assert await t.wait_time("A", 1) == 0
    assert await t.wait_time("B", 1) == 0
    assert await t.wait_time("A", 1) == 0  # the one message of tolerance
    assert 0.9 < await t.wait_time("A", 1) <= 1.0
