"""Fixtures for the network-edge tests: the platform app on real sockets (API and MLP push listener)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from lbs.settings import Settings
from tests.geofences.conftest import keys

__all__ = ["Platform", "keys"]


@dataclass
class Platform:
    """The platform app on real sockets (API and push listener), without an SMPP bind or triggered reporting."""

    settings: Settings
    app: web.Application
    redis: aioredis.Redis

    async def stream(self) -> int:
        return int(await self.redis.xlen(self.settings.geofence_stream))


@pytest.fixture
async def platform(
    settings: Settings, db: asyncpg.Connection[Any], redis_client: aioredis.Redis
) -> AsyncIterator[Platform]:
    from api.app import create_app

    running = settings.model_copy(update={"smpp_enabled": False, "geofence_reporting": False})
    app = create_app(running)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, running.api_host, running.api_port).start()
    try:
        yield Platform(running, app, redis_client)
    finally:
        await runner.cleanup()
