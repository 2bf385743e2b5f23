"""Throughput per short code, shared by every worker process: a GCRA token bucket in Redis.

GCRA keeps one timestamp per key (the theoretical arrival time of the next message), so N processes
together send at the tier's rate. Redis's own clock is used, so the processes' clocks do not matter.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

# Returns 0 when a message may go now, else how many microseconds to wait.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat - burst * interval
if now < allow_at then return allow_at - now end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.floor((new_tat - now) / 1000) + 1000)
return 0
"""


class Throttle:
    """``await throttle.acquire("3311", 10)`` returns when the next message of short code 3311 may go."""

    def __init__(self, redis: aioredis.Redis, prefix: str = "lbs:throttle:", burst: int = 1) -> None:
        self._redis = redis
        self._prefix = prefix
        # One message of tolerance: a sender that wakes a little late does not lose its slot, so the long-run
        # rate stays on the tier (0 would space messages exactly but drift low by the scheduling jitter).
        self._burst = burst
        self._script = redis.register_script(_GCRA)

    async def wait_time(self, key: str, rate_per_s: float) -> float:
        """Seconds to wait before the next message of ``key``; 0.0 means it was admitted now."""
        interval_us = max(1, round(1_000_000 / rate_per_s))
        wait_us = await self._script(keys=[self._prefix + key], args=[interval_us, self._burst])
        return int(wait_us) / 1_000_000

    async def acquire(self, key: str, rate_per_s: float) -> None:
        while True:
            wait = await self.wait_time(key, rate_per_s)
            if wait <= 0:
                return
            await asyncio.sleep(wait)
