"""Fixtures of the geofence tests: the platform app with the promotion routes, a provider with its keys."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.openapi import OPENAPI_FRAGMENTS_KEY
from api.promotions import OPENAPI_PATHS, setup_promotion_routes
from lbs.apikeys import create_key
from lbs.settings import Settings


@pytest.fixture
async def client(settings: Settings, db: asyncpg.Connection[Any], aiohttp_client: Any) -> TestClient:
    app = create_app(settings.model_copy(update={"smpp_enabled": False}))
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
