"""The POI keywords against real PostgreSQL, the real consent registry and location service (audit, CDRs), with
a scripted MLP client: consent first, language per keyword, coarse areas, failures bill nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from api.demo_data import load
from lbs.clock import system_clock
from lbs.consent import registry
from lbs.consent.decision import Precision, Purpose
from lbs.consent.service import ConsentService
from lbs.db import create_pool
from lbs.location import LocationService
from lbs.messaging.core import Reply
from lbs.messaging.router import KeywordRouter, Mo
from lbs.mlp.codes import ResultCode
from lbs.mlp.errors import AbsentSubscriber
from lbs.mlp.models import Position, Qos
from lbs.pois.demo import generate, load_demo_pois
from lbs.pois.search import PoiSearch
from lbs.pois.sms import ActiveQueryDeps, register_keywords
from lbs.pois.store import custom_words
from lbs.settings import Settings
from tests.pois.conftest import metres

FR, NL, EN = "+32470000000", "+32470000001", "+32470000002"  # demo languages: fr, nl, en by index % 3
HOME = (50.8466, 4.3528)
OFFICER = registry.Source("officer", "test", {"reason": "test"})


@dataclass
class FakeLocator:
    at: tuple[float, float] = HOME
    fail: bool = False
    precision: str = "exact"
    calls: list[tuple[str, Qos | None]] = field(default_factory=list)

    async def locate(
        self, msisdn: str, *, requestor: str | None = None, qos: Qos | None = None, service: str | None = None
    ) -> Position:
        self.calls.append((msisdn, qos))
        if self.fail:
            raise AbsentSubscriber("handset off", result_code=ResultCode.ABSENT_SUBSCRIBER)
        return Position(self.at[0], self.at[1], 20.0, datetime.now(UTC), "A-GNSS", self.precision)  # type: ignore[arg-type]


@dataclass
class World:
    router: KeywordRouter
    locator: FakeLocator
    consent: ConsentService
    settings: Settings
    db: asyncpg.Connection[Any]
    replies: list[Reply | str] = field(default_factory=list)

    async def send(self, msisdn: str, text: str, to: str | None = None) -> str:
        mo = Mo(msisdn, to or self.settings.short_code, text, datetime.now(UTC), f"mo-{len(self.replies)}-{text}")
        _, reply = await self.router.dispatch(mo)
        assert reply is not None
        self.replies.append(reply)
        return reply.text if isinstance(reply, Reply) else reply  # type: ignore[unreachable]

    async def cdrs(self) -> list[str]:
        return [r["event_type"] for r in await self.db.fetch("SELECT event_type FROM billing_cdrs ORDER BY id")]

    async def disclosures(self) -> int:
        return int(await self.db.fetchval("SELECT count(*) FROM audit_log WHERE kind = 'disclosure'"))


@pytest.fixture
async def world(settings: Settings, db: asyncpg.Connection[Any]) -> AsyncIterator[World]:
    await load(db, settings)
    await load_demo_pois(db, settings)
    pool = await create_pool(settings)
    consent = ConsentService(pool, settings, system_clock)
    for msisdn in (FR, NL, EN):
        await consent.grant(msisdn, "CITYGUIDE", Purpose.ACTIVE_LOOKUP, Precision.EXACT, OFFICER)
    await db.execute(
        "INSERT INTO poi_keywords (short_code, keyword, application_id, category)"
        " SELECT $1, 'FARMACIA', id, 'PHARMACY' FROM applications WHERE name = 'CITYGUIDE'",
        settings.short_code,
    )
    router, locator = KeywordRouter(), FakeLocator()
    location = LocationService(pool, consent, locator)  # type: ignore[arg-type]
    deps = ActiveQueryDeps(pool, location, settings, PoiSearch(settings), custom=await custom_words(db))
    register_keywords(router, deps)
    try:
        yield World(router, locator, consent, settings, db)
    finally:
        await pool.close()


def expected(settings: Settings, category: str, lat: float, lon: float, k: int = 3) -> list[tuple[str, float]]:
    rows = generate(settings.pois_demo_count, settings.pois_demo_seed, settings.les_bbox)
    found = sorted((metres(lat, lon, r.lat, r.lon), r.name) for r in rows if r.category == category)
    return [(name, d) for d, name in found[:k]]


def listed(reply: str) -> list[tuple[str, str]]:
    """(name as shown, possibly shortened; distance) per listed place."""
    items = re.finditer(r"^\d\) (.+?) (\d+(?:\.\d)? k?m)(?: [A-Z]{1,2})?$", reply, re.M)
    return [(m[1].split(", ")[0], m[2]) for m in items]


def as_metres(text: str) -> float:
    value, unit = text.split()
    return float(value) * (1000 if unit == "km" else 1)


@pytest.mark.parametrize(
    ("msisdn", "word", "header"),
    [(EN, "PHARMACY", "Nearest pharmacies:"), (FR, "pharmacie", "Pharmacies les plus proches:"),
     (NL, "Apotheek", "Dichtstbijzijnde apotheken:"), (FR, "HOTEL", "Hotels les plus proches:"),
     (NL, "hotel", "Dichtstbijzijnde hotels:"), (EN, "NEAREST ATM", "Nearest cash machines:"),
     (FR, "PROCHE PETROL", "Stations-service les plus proches:")],
)  # fmt: skip
async def test_nearest_places_match_brute_force(world: World, msisdn: str, word: str, header: str) -> None:
    reply = await world.send(msisdn, word)
    assert reply.startswith(header + "\n"), reply
    category = {"PHARMACY": "PHARMACY", "PHARMACIE": "PHARMACY", "APOTHEEK": "PHARMACY", "HOTEL": "HOTEL",
                "NEAREST ATM": "ATM", "PROCHE PETROL": "PETROL"}[word.upper()]  # fmt: skip
    truth = expected(world.settings, category, *HOME)
    got = listed(reply)
    assert len(got) == len(truth) == 3, reply
    for (shown, dist), (name, true_m) in zip(got, truth, strict=True):
        assert name.startswith(shown), reply
        assert abs(as_metres(dist) - true_m) <= 50, reply  # walking rounding: 50 m steps under 1 km
    assert world.locator.calls[-1] == (msisdn, Qos(hor_acc_m=50))
    answer = world.replies[-1]
    app_id = await world.db.fetchval("SELECT id FROM applications WHERE name = 'CITYGUIDE'")
    assert isinstance(answer, Reply) and answer.application_id == app_id  # the MT pipeline bills it to CITYGUIDE
    assert await world.cdrs() == ["location_active"] and await world.disclosures() == 1


async def test_no_consent_asks_and_locates_nothing(world: World) -> None:
    other = "+32470000004"
    reply = await world.send(other, "PHARMACY")
    assert reply == "CITYGUIDE asks to use your location for nearby search. Reply YES CITYGUIDE to allow. Free." \
                    " No reply = no."  # fmt: skip
    assert world.locator.calls == [] and await world.cdrs() == [] and await world.disclosures() == 0
    assert isinstance(world.replies[-1], str)  # the platform's own SMS: not billed to the application
    pending = await world.consent.pending(other, "CITYGUIDE")
    assert [(p.application, p.purpose) for p in pending] == [("CITYGUIDE", Purpose.ACTIVE_LOOKUP)]


async def test_paused_subscriber_is_not_located(world: World) -> None:
    await world.consent.pause_all(EN, timedelta(hours=2), OFFICER)
    assert (await world.send(EN, "ATM")).startswith("Your location is paused")
    assert world.locator.calls == []


async def test_les_failure_apologises_and_bills_nothing(world: World) -> None:
    world.locator.fail = True
    assert await world.send(NL, "APOTHEEK") == "Sorry, we kunnen u nu niet lokaliseren. Probeer later opnieuw." \
                                              " Er werd niets aangerekend."  # fmt: skip
    assert await world.cdrs() == [] and isinstance(world.replies[-1], str)


async def test_coarse_position_searches_from_the_cell_centre(world: World) -> None:
    world.locator.precision = "coarse"
    reply = await world.send(FR, "PHARMACIE")
    assert reply.startswith("Pharmacies pres de Bruxelles:"), reply


async def test_nothing_within_the_radius_names_the_nearest(world: World) -> None:
    world.locator.at = (50.6326, 5.5797)  # Liège, far from every demo POI
    reply = await world.send(EN, "PETROL")
    assert reply.startswith("No petrol stations within 5.0 km. The nearest: "), reply
    assert re.search(r", \d+ km (N|NE|E|SE|S|SW|W|NW)\.$", reply)
    assert await world.cdrs() == ["location_active"]


async def test_custom_word_answers_on_its_short_code_only(world: World) -> None:
    assert (await world.send(NL, "farmacia")).startswith("Dichtstbijzijnde apotheken:")  # subscriber's language
    assert "unknown command" in await world.send(NL, "FARMACIA", to="4422")
