"""Alembic owns the schema: upgrade, downgrade to base, upgrade again, and models agree with migrations."""

from __future__ import annotations

import asyncio
import os
import secrets

import asyncpg

from lbs import migrate
from lbs.settings import Settings
from tests.conftest import with_database


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def test_upgrade_downgrade_upgrade_check(base_settings: Settings) -> None:
    name = f"lbs_mig_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_admin(base_settings.database_url, f'CREATE DATABASE "{name}"'))
    url = with_database(base_settings.database_url, name)
    try:
        migrate.upgrade(url)
        tables = asyncio.run(_tables(url))
        assert {"providers", "api_keys", "applications", "subscribers", "short_codes"} <= tables
        migrate.downgrade(url, "base")
        assert asyncio.run(_tables(url)) <= {"spatial_ref_sys", "alembic_version"}
        migrate.upgrade(url)
        migrate.check(url)  # raises when models and migrations disagree
    finally:
        asyncio.run(_admin(base_settings.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
