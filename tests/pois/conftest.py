"""POI fixtures on top of tests/conftest.py: a provider with CITYGUIDE, its API key, the demo POIs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from lbs.apikeys import create_key
from lbs.pois.demo import load_demo_pois
from lbs.settings import Settings


@dataclass(frozen=True)
class Tenant:
    provider_id: int
    app_id: int
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def make_tenant(db: asyncpg.Connection[Any], provider: str, app: str) -> Tenant:
    provider_id = await db.fetchval("INSERT INTO providers (name) VALUES ($1) RETURNING id", provider)
    app_id = await db.fetchval(
        "INSERT INTO applications (provider_id, name) VALUES ($1, $2) RETURNING id", provider_id, app
    )
    key = await create_key(db, role="provider", name=f"{provider} key", provider=provider)
    return Tenant(provider_id, app_id, key)


@pytest.fixture
async def tenant(db: asyncpg.Connection[Any]) -> Tenant:
    return await make_tenant(db, "CityGuide", "CITYGUIDE")


@pytest.fixture
async def demo(db: asyncpg.Connection[Any], settings: Settings, tenant: Tenant) -> Tenant:
    """CITYGUIDE with the demo POIs of the default settings (short code 3311 routed to it)."""
    await db.execute(
        "INSERT INTO short_codes (code, system_id) VALUES ($1, 'demo') ON CONFLICT DO NOTHING", settings.short_code
    )
    await load_demo_pois(db, settings)
    return tenant


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Brute-force haversine on the same sphere as the code under test (independent implementation)."""
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))
