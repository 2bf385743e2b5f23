"""Shared fixtures: a real PostgreSQL+PostGIS database per test session (emptied before each test that uses it),
a real Redis db index flushed per test, and settings with free ports for the in-process emulators."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from lbs import migrate
from lbs.settings import Settings

# Tests run in development mode (as `make test` does): the development secrets are accepted. The tests of the
# refusal outside it (tests/security/test_default_secrets.py) build settings with dev_mode off.
os.environ.setdefault("LBS_DEV_MODE", "1")
# Tests use their own Redis db index, flushed before each test; never the application's db 0.
TEST_REDIS_DB = int(os.environ.get("LBS_TEST_REDIS_DB", "15"))
KEEP_TABLES = ("spatial_ref_sys", "alembic_version")


def _ephemeral_low() -> int:
    """The first port the kernel hands to outgoing connections (Linux: 32768 unless configured)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Ports handed out in this process: a server a test stopped may keep its port a while; never hand it out again.
_GIVEN: set[int] = set()
_PICK = random.Random()  # not seeded: parallel sessions on one machine pick different ports


def free_port() -> int:
    """A port free now and *below* the ephemeral range.

    A port from ``bind(("127.0.0.1", 0))`` comes from the ephemeral range, which the kernel also uses for every
    outgoing connection (database, Redis, HTTP clients): between the pick and the server's bind, one of those could
    take it ("address already in use", seen in about one full run in three). Below the range nothing takes a port
    on its own.
    """
    for _ in range(200):
        port = _PICK.randrange(20_000, min(_ephemeral_low(), 32_768))
        if port in _GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def database_url(base_settings: Settings) -> Iterator[str]:
    """A fresh database for this test session, migrated to head by alembic, dropped at the end."""
    name = f"lbs_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = base_settings.database_url
    asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    url = with_database(admin, name)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(base_settings: Settings, database_url: str) -> Settings:
    """Platform and emulator settings for one test: the test database, the test Redis db, free ports."""
    redis_url = urlunsplit(urlsplit(base_settings.redis_url)._replace(path=f"/{TEST_REDIS_DB}"))
    api_port = free_port()
    values: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": redis_url,
        "api_port": api_port,
        "les_port": free_port(),
        "les_url": "",
        "mlp_push_port": free_port(),
        "mlp_push_url": "",
        "smsc_port": free_port(),
        "smsc_control_port": free_port(),
        "demo_subscribers": 50,
    }
    fields = Settings.model_fields
    if "platform_url" in fields:
        values["platform_url"] = f"http://127.0.0.1:{api_port}"
    return Settings(**values)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[asyncpg.Connection[Any]]:
    """A connection to the test database, every table of ours emptied first."""
    conn = await asyncpg.connect(settings.database_url)
    tables = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> ALL($1::text[])",
        list(KEEP_TABLES),
    )
    if tables:
        names = ", ".join(f'"{t["tablename"]}"' for t in tables)
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(settings.redis_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


@dataclass
class Stack:
    """Both emulators and the platform, running in this process on free ports."""

    settings: Settings
    app: web.Application
    http: aiohttp.ClientSession

    @property
    def smsc(self) -> str:
        return f"http://127.0.0.1:{self.settings.smsc_control_port}"

    @property
    def les(self) -> str:
        return f"http://127.0.0.1:{self.settings.les_port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    async def mo(self, msisdn: str, text: str, to: str | None = None, **extra: Any) -> None:
        body = {"from": msisdn, "to": to or self.settings.short_code, "text": text, **extra}
        async with self.http.post(f"{self.smsc}/sim/mo", json=body) as resp:
            assert resp.status < 300, await resp.text()

    async def inbox(self, msisdn: str) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.smsc}/sim/handsets/{msisdn}/inbox") as resp:
            data = await resp.json()
        return list(data["messages"] if isinstance(data, dict) else data)

    async def wait_inbox(self, msisdn: str, count: int, within_s: float = 10.0) -> list[dict[str, Any]]:
        """The handset's inbox once it holds at least ``count`` messages (AssertionError after ``within_s``)."""
        deadline = asyncio.get_running_loop().time() + within_s
        while True:
            box = await self.inbox(msisdn)
            if len(box) >= count or asyncio.get_running_loop().time() > deadline:
                assert len(box) >= count, f"{msisdn} inbox after {within_s} s: {box}"
                return box
            await asyncio.sleep(0.02)

    async def sim_mode(self, **body: Any) -> None:
        async with self.http.post(f"{self.smsc}/sim/mode", json=body) as resp:
            assert resp.status < 300, await resp.text()


@pytest.fixture
async def stack(settings: Settings, db: asyncpg.Connection[Any], redis_client: aioredis.Redis) -> AsyncIterator[Stack]:
    """The whole platform over real sockets, with the demo data (50 subscribers) loaded."""
    from api.demo import start_all
    from api.demo_data import load

    await load(db, settings)
    app, stop = await start_all(settings)
    try:
        async with aiohttp.ClientSession() as http:
            yield Stack(settings, app, http)
    finally:
        await stop()
