"""Active queries over real sockets: handset -> SMSC emulator -> SMPP -> platform -> consent -> MLP -> LES ->
nearest-k -> SMS back, in three languages, checked against a brute-force distance computation; no consent,
LES failure and no-result paths."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from api.app import create_app
from api.demo import les_settings_for, smsc_settings_for, start_les, start_smsc
from api.demo_data import load
from api.keys import MESSAGING_KEY
from api.pois import setup_poi_routes
from api.scenario import ACTIVE_QUERY_HANDSET, Scenario, step_active_query
from lbs.clock import system_clock
from lbs.consent import registry
from lbs.consent.decision import Precision, Purpose
from lbs.consent.service import ConsentService
from lbs.db import create_pool
from lbs.pois.demo import generate, load_demo_pois
from lbs.settings import Settings
from tests.pois.conftest import metres

EN, FR, NL, STRANGER = "+32470000005", "+32470000006", "+32470000007", "+32470000008"


async def start_platform(settings: Settings) -> web.AppRunner:
    app = create_app(settings)
    setup_poi_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.api_host, settings.api_port).start()
    await app[MESSAGING_KEY].wait_bound()
    return runner


@pytest.fixture
async def scenario(
    settings: Settings, db: asyncpg.Connection[Any], redis_client: aioredis.Redis
) -> AsyncIterator[Scenario]:
    await load(db, settings)
    await load_demo_pois(db, settings)
    pool = await create_pool(settings)
    try:
        consent = ConsentService(pool, settings, system_clock)
        for msisdn in (EN, FR, NL):
            source = registry.Source("officer", "test", {})
            await consent.grant(msisdn, "CITYGUIDE", Purpose.ACTIVE_LOOKUP, Precision.EXACT, source)
    finally:
        await pool.close()
    stops = [await start_les(les_settings_for(settings)), await start_smsc(smsc_settings_for(settings))]
    runner = await start_platform(settings)
    try:
        async with aiohttp.ClientSession() as session:
            yield Scenario(settings, session, lambda _: None, system_clock)
    finally:
        await runner.cleanup()
        for stop in reversed(stops):
            await stop()


def separated_spot(settings: Settings, category: str) -> tuple[float, float, list[tuple[str, float]]]:
    """A point whose 4 nearest places differ by > 95 m, so the fix's noise (< 45 m) cannot reorder them."""
    rows = [r for r in generate(settings.pois_demo_count, settings.pois_demo_seed, settings.les_bbox)
            if r.category == category]  # fmt: skip
    for i in range(2500):
        lat, lon = 50.81 + (i % 50) * 0.001, 4.32 + (i // 50) * 0.0015
        found = sorted((metres(lat, lon, r.lat, r.lon), r.name) for r in rows)[:4]
        if all(b[0] - a[0] > 95 for a, b in itertools.pairwise(found)) and found[0][0] > 100:
            return lat, lon, [(name, d) for d, name in found[:3]]
    raise AssertionError("no separated spot")


async def pin(s: Scenario, msisdn: str, lat: float, lon: float) -> None:
    url = f"http://{s.settings.les_host}:{s.settings.les_port}/sim/subscribers/{msisdn}/position"
    async with s.session.put(url, json={"lat": lat, "lon": lon}) as resp:
        assert resp.status == 200, await resp.text()


def places(reply: str) -> list[tuple[str, float]]:
    out = []
    for m in re.finditer(r"^\d\) (.+?) (\d+(?:\.\d)?) (k?m)(?: [A-Z]{1,2})?$", reply, re.M):
        out.append((m[1].split(", ")[0], float(m[2]) * (1000 if m[3] == "km" else 1)))
    return out


@pytest.mark.parametrize(
    ("msisdn", "word", "category", "header"),
    [(EN, "PHARMACY", "PHARMACY", "Nearest pharmacies:"), (FR, "PHARMACIE", "PHARMACY", "Pharmacies les plus"),
     (NL, "GELDAUTOMAAT", "ATM", "Dichtstbijzijnde geldautomaten:")],
)  # fmt: skip
async def test_handset_gets_the_nearest_places(scenario: Scenario, msisdn: str, word: str, category: str,
                                               header: str) -> None:  # fmt: skip
    lat, lon, truth = separated_spot(scenario.settings, category)
    await pin(scenario, msisdn, lat, lon)
    reply, _ = await scenario.text(msisdn, word, lambda t: True)
    assert reply.startswith(header), reply
    got = places(reply)
    assert len(got) == 3, reply
    for (shown, dist), (name, true_m) in zip(got, truth, strict=True):
        assert name.startswith(shown), (reply, truth)
        assert abs(dist - true_m) <= 100, (reply, truth)  # 50 m rounding + 50 m positioning accuracy


async def test_no_consent_les_failure_and_no_result(scenario: Scenario) -> None:
    reply, _ = await scenario.text(STRANGER, "ATM", lambda t: True)
    assert reply.startswith("CITYGUIDE asks to use your location"), reply
    les = f"http://{scenario.settings.les_host}:{scenario.settings.les_port}"
    async with scenario.session.put(f"{les}/sim/mode", json={"mode": "absent", "msisdn": NL}) as resp:
        assert resp.status == 200
    reply, _ = await scenario.text(NL, "APOTHEEK", lambda t: True)
    assert reply.startswith("Sorry, we kunnen u nu niet lokaliseren"), reply
    await pin(scenario, EN, 50.6326, 5.5797)  # Liège: no demo POI within 5 km
    reply, _ = await scenario.text(EN, "HOTEL", lambda t: True)
    assert reply.startswith("No hotels within 5.0 km. The nearest: "), reply


async def test_live_scenario_step(scenario: Scenario) -> None:
    lines: list[str] = []
    scenario.out = lines.append
    await step_active_query(scenario)  # no grant yet: the platform asks, OUI, then the list
    text = "\n".join(lines)
    assert "no consent yet" in text and "Pharmacies les plus proches" in text, text
    assert ACTIVE_QUERY_HANDSET not in (EN, FR, NL, STRANGER)
