"""Fixtures of the geofence tests: the platform app with the promotion routes, a provider with its keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.openapi import OPENAPI_FRAGMENTS_KEY
from api.promotions import OPENAPI_PATHS, setup_promotion_routes
from lbs.apikeys import create_key
from lbs.clock import FrozenClock
from lbs.settings import Settings

NOW = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)  # a Wednesday, 14:00 in Brussels: the apps' clock in these tests


@pytest.fixture
async def client(settings: Settings, db: asyncpg.Connection[Any], aiohttp_client: Any) -> TestClient:
    app = create_app(settings.model_copy(update={"smpp_enabled": False}), clock=FrozenClock(NOW))
    setup_promotion_routes(app)
    app[OPENAPI_FRAGMENTS_KEY].append(OPENAPI_PATHS)
    return await aiohttp_client(app)  # type: ignore[no-any-return]


@pytest.fixture
async def keys(db: asyncpg.Connection[Any]) -> dict[str, str]:
    await db.execute("INSERT INTO providers (name) VALUES ('PromoCity'), ('Other')")
    await db.execute(
        "INSERT INTO applications (provider_id, name) SELECT id, 'PROMOCITY' FROM providers WHERE name = 'PromoCity'"
    )
    await db.execute(
        "INSERT INTO applications (provider_id, name) SELECT id, 'OTHERAPP' FROM providers WHERE name = 'Other'"
    )
    return {
        "promocity": await create_key(db, role="provider", name="p", provider="PromoCity"),
        "other": await create_key(db, role="provider", name="o", provider="Other"),
        "operator": await create_key(db, role="operator", name="ops"),
    }
