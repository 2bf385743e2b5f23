"""Demo data loaded by ``make setup`` (idempotent): providers, applications, short code 3311, 10,000 subscribers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg

from geofences.model import parse_shape, shape_to_geojson
from lbs.pois.demo import load_demo_pois
from lbs.settings import Settings

DEMO_PROVIDERS = {"CityGuide": ["CITYGUIDE"], "PromoCity": ["PROMOCITY"]}
# Belgian IMSIs: MCC 206, MNC 01, then the subscriber's index.
IMSI_BASE = 206_010_000_000_000


GRAND_PLACE = (4.3525, 50.8467)  # lon, lat
PROMOTION = "Grand-Place waffles"
# A fixed validity, not one relative to the day `make setup` ran: the demo plays at any instant (`lbs demo --at`).
PROMOTION_VALID = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2036, 1, 1, tzinfo=UTC))


async def _demo_promotion(conn: asyncpg.Connection[Any]) -> None:
    """PromoCity's promotion: a 150 m circle on the Grand-Place, one SMS on entering, at most 5 per subscriber."""
    if await conn.fetchval("SELECT 1 FROM promotions WHERE name = $1", PROMOTION):
        return
    fence = shape_to_geojson(parse_shape({"center": list(GRAND_PLACE), "radius_m": 150}))
    await conn.execute(
        "INSERT INTO promotions (provider_id, application_id, name, brand, shop, fence, trigger, template, coupon,"
        " source, valid_from, valid_until, cap_count, cap_period)"
        " SELECT a.provider_id, a.id, $1, 'PROMOCITY', 'Maison Dandoy', $2::jsonb, 'enter', $3, 'WAFFLE26', '3311',"
        " $4, $5, 5, 'promotion' FROM applications a WHERE a.name = 'PROMOCITY'",
        PROMOTION,
        json.dumps(fence),
        "Welcome to the Grand-Place! {shop} offers you a free waffle with code {coupon}.",
        PROMOTION_VALID[0],
        PROMOTION_VALID[1],
    )


async def load(conn: asyncpg.Connection[Any], settings: Settings) -> dict[str, int]:
    """Upsert the demo rows; running it again changes nothing. Returns how many subscribers exist."""
    async with conn.transaction():
        for provider, apps in DEMO_PROVIDERS.items():
            provider_id = await conn.fetchval(
                "INSERT INTO providers (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name"
                " RETURNING id",
                provider,
            )
            for app in apps:
                await conn.execute(
                    "INSERT INTO applications (provider_id, name, description) VALUES ($1, $2, $3)"
                    " ON CONFLICT (name) DO NOTHING",
                    provider_id,
                    app,
                    f"Demo application {app}",
                )
        await conn.execute(
            "INSERT INTO short_codes (code, system_id, throughput_tps) VALUES ($1, $2, 10)"
            " ON CONFLICT (code) DO NOTHING",
            settings.short_code,
            settings.smpp_system_id,
        )
        first = int(settings.les_first_msisdn.lstrip("+"))
        await conn.execute(
            "INSERT INTO subscribers (msisdn, imsi, language)"
            " SELECT '+' || ($1::bigint + i)::text, ($2::bigint + i)::text,"
            "        (ARRAY['fr', 'nl', 'en'])[1 + i % 3]"
            " FROM generate_series(0, $3::int - 1) AS i ON CONFLICT (msisdn) DO NOTHING",
            first,
            IMSI_BASE,
            settings.demo_subscribers,
        )
        count = await conn.fetchval("SELECT count(*) FROM subscribers")
        await _demo_promotion(conn)
        pois = await load_demo_pois(conn, settings)
    return {"subscribers": int(count), "pois": pois.received}
