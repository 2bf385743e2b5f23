"""Shared fixtures: a real PostgreSQL+PostGIS database per test session (emptied before each test that uses it),
a real Redis db index flushed per test, and settings with free ports for the in-process emulators."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis.asyncio as aioredis

from lbs import migrate
from lbs.settings import Settings

# Tests use their own Redis db index, flushed before each test; never the application's db 0.
TEST_REDIS_DB = int(os.environ.get("LBS_TEST_REDIS_DB", "15"))
KEEP_TABLES = ("spatial_ref_sys", "alembic_version")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
