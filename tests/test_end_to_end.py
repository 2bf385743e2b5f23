"""The walking skeleton over real sockets: handset -> SMSC emulator -> SMPP -> platform -> MLP -> LES -> SMS back."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis

from api.demo import DEMO_SPEED, Stop, play_scenario, smsc_settings_for, start_all, start_platform, start_smsc
from api.demo_data import load
from api.keys import CLOCK_KEY
from api.scenario import DEMO_HANDSET, Scenario
from lbs.clock import Clock, RunningClock
from lbs.settings import Settings

# The live scenario runs once in marketing hours and once out of them, whatever the wall clock says.
IN_HOURS = datetime(2026, 12, 1, 10, 0, tzinfo=ZoneInfo("Europe/Brussels"))  # a Tuesday morning
OUT_OF_HOURS = datetime(2026, 12, 5, 23, 30, tzinfo=ZoneInfo("Europe/Brussels"))  # a Saturday night


@dataclass
class Running:
    settings: Settings
    clock: Clock


async def _start(settings: Settings, db: asyncpg.Connection[Any], at: datetime | None) -> tuple[Running, Stop]:
    settings = settings.model_copy(update=DEMO_SPEED)  # geofencing reacts in seconds, as in `lbs demo`
    await load(db, settings)
    app, stop = await start_all(settings, at)
    return Running(settings, app[CLOCK_KEY]), stop


@pytest.fixture
async def running(
    settings: Settings, db: asyncpg.Connection[Any], redis_client: aioredis.Redis
) -> AsyncIterator[Settings]:
    """The platform and both emulators at an in-hours instant."""
    started, stop = await _start(settings, db, IN_HOURS)
    try:
        yield started.settings
    finally:
        await stop()


@pytest.fixture(params=[IN_HOURS, OUT_OF_HOURS], ids=["in-hours", "out-of-hours"])
async def running_at(
    request: pytest.FixtureRequest, settings: Settings, db: asyncpg.Connection[Any], redis_client: aioredis.Redis
) -> AsyncIterator[Running]:
    """The platform and both emulators, their clocks running from an instant in and out of marketing hours."""
    started, stop = await _start(settings, db, request.param)
    try:
        yield started
    finally:
        await stop()


@pytest.fixture
async def scenario(running: Settings) -> AsyncIterator[Scenario]:
    async with aiohttp.ClientSession() as session:
        yield Scenario(running, session, lambda _: None, RunningClock(IN_HOURS))


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


async def test_live_scenario_passes(running_at: Running) -> None:
    lines: list[str] = []
    assert await play_scenario(running_at.settings, running_at.clock, out=lines.append), "\n".join(lines)


async def test_ping_gets_pong_from_the_short_code(scenario: Scenario) -> None:
    await scenario.text("+32470000042", "ping", "PONG".__eq__)
    inbox = await scenario.inbox("+32470000042")
    assert [m["text"] for m in inbox] == ["PONG"]
    assert inbox[0]["from"].lstrip("+") == scenario.settings.short_code


async def test_unknown_keyword_gets_help(scenario: Scenario) -> None:
    reply, _ = await scenario.text("+32470000043", "HELLO THERE", lambda t: "unknown" in t)
    assert "PING" in reply and "WHERE" in reply


async def test_where_answers_the_true_position_within_its_accuracy(scenario: Scenario) -> None:
    truth = await scenario.true_position(DEMO_HANDSET)
    reply, _ = await scenario.text(DEMO_HANDSET, "WHERE", lambda t: t.startswith(("You are near", "Sorry")))
    m = re.match(r"You are near (-?\d+\.\d+), (-?\d+\.\d+) \(within (\d+(?:\.\d)?) (m|km)\)\.", reply)
    assert m, reply
    lat, lon = float(m[1]), float(m[2])
    accuracy = float(m[3]) * (1000 if m[4] == "km" else 1)
    # The LES reports a noisy position within its stated accuracy (rounded in the SMS).
    assert metres(lat, lon, truth["lat"], truth["lon"]) <= accuracy * 1.05 + 60


async def test_health_names_the_failed_part(
    settings: Settings, db: asyncpg.Connection[Any], redis_client: aioredis.Redis
) -> None:
    stop_smsc = await start_smsc(smsc_settings_for(settings))  # no LES started: the platform must say so
    _, stop_platform = await start_platform(settings)
    try:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{settings.api_port}/health") as r:
            body = await r.json()
            assert r.status == 503
        assert body["code"] == "UNAVAILABLE" and "les" in body["message"]
        assert body["checks"]["postgres"] == "ok" and body["checks"]["smpp"] == "ok"
        assert body["checks"]["les"].startswith("failed")
    finally:
        await stop_platform()
        await stop_smsc()


async def test_health_ok_and_metrics_count_mo(running: Settings, scenario: Scenario) -> None:
    await scenario.text("+32470000044", "PING", "PONG".__eq__)
    await scenario.text("+32470000044", "WHERE", lambda t: t.startswith("You are near"))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{running.api_port}/health") as resp:
            assert resp.status == 200, await resp.text()
            assert set((await resp.json())["checks"].values()) == {"ok"}
        async with session.get(f"http://127.0.0.1:{running.api_port}/metrics") as resp:
            text = await resp.text()
    assert 'lbs_mo_received_total{keyword="PING"} 1.0' in text
    assert 'lbs_location_requests_total{outcome="ok"}' in text  # WHERE located the handset
    assert "lbs_http_requests_total" in text


async def test_geofence_promotion_end_to_end(running_at: Running) -> None:
    """Consent by SMS -> triggered reports from the LES -> stream -> worker -> enter -> in marketing hours an SMS in
    the handset's inbox, out of hours the entry counted and the offer suppressed -> a second entry suppressed."""
    from api.scenario import play, step_geofence

    lines: list[str] = []
    ok = await play(running_at.settings, running_at.clock, out=lines.append, steps=[step_geofence])
    text = "\n".join(lines)
    assert ok, text
    if running_at.clock() < OUT_OF_HOURS:
        assert "receives 'Welcome to the Grand-Place!" in text, text
        assert "no second SMS: suppressed (daily_brand_cap +1)" in text, text
    else:
        assert "a weekend day: the entry is counted and the offer is suppressed (quiet hours)" in text, text
        assert "no second SMS: suppressed (quiet_hours +1)" in text, text
        assert "receives" not in text.split("walks onto the Grand-Place")[1], text  # no promotion SMS at all
