"""CAMARA DeviceLocation r3.2 over real sockets: platform API -> consent -> MLP -> LES emulator -> billing."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from h3.api.basic_int import cell_to_latlng, latlng_to_cell

from api.app import create_app
from api.camara import setup_camara_routes
from api.demo import les_settings_for, start_les
from api.demo_data import load
from api.pois import setup_poi_routes
from lbs.apikeys import create_key
from lbs.clock import system_clock
from lbs.consent import registry
from lbs.consent.decision import Precision, Purpose
from lbs.consent.service import ConsentService
from lbs.db import create_pool
from lbs.pois.device import Fix, overlap_area, verify_circle
from lbs.settings import Settings
from tests.pois.conftest import metres

EXACT, COARSE, NO_GRANT = "+32470000010", "+32470000011", "+32470000012"
SPOT = (50.8466, 4.3528)
RETRIEVE, VERIFY = "/location-retrieval/v0.5/retrieve", "/location-verification/v3/verify"


@dataclass
class Api:
    session: aiohttp.ClientSession
    base: str
    les: str
    key: str
    db: asyncpg.Connection[Any]

    async def post(
        self, path: str, body: object, **headers: str
    ) -> tuple[int, dict[str, Any], aiohttp.typedefs.LooseHeaders]:
        hdrs = {"Authorization": f"Bearer {self.key}", **headers}
        async with self.session.post(self.base + path, json=body, headers=hdrs) as resp:
            return resp.status, await resp.json(), resp.headers

    async def les_requests(self) -> int:
        async with self.session.get(f"{self.les}/sim/received") as resp:
            return len((await resp.json())["requests"])

    async def cdrs(self) -> list[str]:
        return [r["event_type"] for r in await self.db.fetch("SELECT event_type FROM billing_cdrs ORDER BY id")]


@pytest.fixture
async def api(settings: Settings, db: asyncpg.Connection[Any]) -> AsyncIterator[Api]:
    settings = settings.model_copy(update={"smpp_enabled": False})
    await load(db, settings)
    key = await create_key(db, role="provider", name="cg", provider="CityGuide")
    pool = await create_pool(settings)
    try:
        consent, source = ConsentService(pool, settings, system_clock), registry.Source("officer", "test", {})
        await consent.grant(EXACT, "CITYGUIDE", Purpose.ACTIVE_LOOKUP, Precision.EXACT, source)
        await consent.grant(COARSE, "CITYGUIDE", Purpose.ACTIVE_LOOKUP, Precision.COARSE, source)
    finally:
        await pool.close()
    stop_les = await start_les(les_settings_for(settings, les_latency_scale=0.0, les_absent_share=0.0))
    app = create_app(settings)
    setup_poi_routes(app)
    setup_camara_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.api_host, settings.api_port).start()
    les = f"http://{settings.les_host}:{settings.les_port}"
    try:
        async with aiohttp.ClientSession() as session:
            for msisdn in (EXACT, COARSE, NO_GRANT):
                async with session.put(f"{les}/sim/subscribers/{msisdn}/position",
                                       json={"lat": SPOT[0], "lon": SPOT[1]}) as resp:  # fmt: skip
                    assert resp.status == 200
            yield Api(session, f"http://{settings.api_host}:{settings.api_port}", les, key, db)
    finally:
        await runner.cleanup()
        await stop_les()


async def test_retrieve_exact_with_correlator_and_billing(api: Api) -> None:
    status, body, headers = await api.post(RETRIEVE, {"device": {"phoneNumber": EXACT}, "maxAge": 60},
                                           **{"x-correlator": "b4333c46-49c0-4f62-80d7-f0ef930f1c46"})  # fmt: skip
    assert status == 200, body
    assert headers["x-correlator"] == "b4333c46-49c0-4f62-80d7-f0ef930f1c46"
    area = body["area"]
    assert area["areaType"] == "CIRCLE" and area["radius"] >= 1
    assert metres(area["center"]["latitude"], area["center"]["longitude"], *SPOT) <= area["radius"]
    assert body["lastLocationTime"].endswith("Z")
    assert await api.cdrs() == ["location_rest"]


async def test_retrieve_coarse_is_the_cell(api: Api) -> None:
    status, body, _ = await api.post(RETRIEVE, {"device": {"phoneNumber": COARSE}})
    assert status == 200, body
    lat, lon = cell_to_latlng(latlng_to_cell(*SPOT, 7))
    assert (body["area"]["center"]["latitude"], body["area"]["center"]["longitude"]) == pytest.approx((lat, lon))
    assert body["area"]["radius"] >= 1_400


async def test_no_consent_is_403_and_nothing_located_or_billed(api: Api) -> None:
    before = await api.les_requests()
    status, body, headers = await api.post(RETRIEVE, {"device": {"phoneNumber": NO_GRANT}}, **{"x-correlator": "c1"})
    assert (status, body["code"], headers["x-correlator"]) == (403, "PERMISSION_DENIED", "c1")
    assert await api.les_requests() == before and await api.cdrs() == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [({"device": {"phoneNumber": "+32479999999"}}, 404, "IDENTIFIER_NOT_FOUND"),
     ({}, 422, "MISSING_IDENTIFIER"), ({"device": {}}, 400, "INVALID_ARGUMENT"),
     ({"device": {"phoneNumber": EXACT, "ipv4Address": {"publicAddress": "999.1.1.1", "publicPort": 1}}}, 400,
      "INVALID_ARGUMENT"),
     ({"device": {"phoneNumber": EXACT, "ipv6Address": "2001:db8::zz"}}, 400, "INVALID_ARGUMENT"),
     ({"device": {"phoneNumber": EXACT, "networkAccessIdentifier": "no-at-sign"}}, 400, "INVALID_ARGUMENT"),
     ({"device": {"ipv4Address": {"publicAddress": "84.125.93.10", "publicPort": 59765}}}, 422,
      "UNSUPPORTED_IDENTIFIER"),
     ({"device": {"phoneNumber": "0470"}}, 400, "INVALID_ARGUMENT"),
     ({"device": {"phoneNumber": EXACT}, "maxAge": -1}, 400, "INVALID_ARGUMENT"),
     ({"device": {"phoneNumber": EXACT}, "maxSurface": 10}, 422, "LOCATION_RETRIEVAL.UNABLE_TO_FULFILL_MAX_SURFACE"),
     ({"device": {"phoneNumber": COARSE}, "maxSurface": 1_000_000}, 422,
      "LOCATION_RETRIEVAL.UNABLE_TO_FULFILL_MAX_SURFACE"),
     ({"device": {"phoneNumber": EXACT}, "bogus": 1}, 400, "INVALID_ARGUMENT")],
)  # fmt: skip
async def test_retrieve_errors(api: Api, body: dict[str, Any], status: int, code: str) -> None:
    got, data, _ = await api.post(RETRIEVE, body)
    assert (got, data["status"], data["code"]) == (status, status, code), data
    assert await api.cdrs() == []


async def test_les_failure_is_unable_to_locate(api: Api) -> None:
    async with api.session.put(f"{api.les}/sim/mode", json={"mode": "absent", "msisdn": EXACT}) as resp:
        assert resp.status == 200
    status, body, _ = await api.post(VERIFY, {"device": {"phoneNumber": EXACT},
                                              "area": {"areaType": "CIRCLE", "center": {"latitude": 50.85,
                                                                                        "longitude": 4.35},
                                                       "radius": 5000}})  # fmt: skip
    assert (status, body["code"]) == (422, "LOCATION_VERIFICATION.UNABLE_TO_LOCATE")
    assert await api.cdrs() == []


def circle(lat: float, lon: float, radius: int) -> dict[str, Any]:
    return {"areaType": "CIRCLE", "center": {"latitude": lat, "longitude": lon}, "radius": radius}


async def test_verify_true_false_partial(api: Api) -> None:
    device = {"phoneNumber": EXACT}
    status, body, _ = await api.post(VERIFY, {"device": device, "area": circle(*SPOT, 20_000)})
    assert (status, body["verificationResult"]) == (200, "TRUE") and "matchRate" not in body
    status, body, _ = await api.post(VERIFY, {"device": device, "area": circle(50.6326, 5.5797, 2_000)})
    assert (status, body["verificationResult"]) == (200, "FALSE")
    status, body, _ = await api.post(VERIFY, {"device": device, "area": circle(*SPOT, 10)})
    assert (status, body["verificationResult"]) == (200, "PARTIAL") and 1 <= body["matchRate"] <= 99
    status, body, _ = await api.post(VERIFY, {"device": device, "area": circle(*SPOT, 5)})
    assert (status, body["code"]) == (422, "LOCATION_VERIFICATION.INVALID_AREA")
    status, body, _ = await api.post(VERIFY, {"device": device, "area": circle(48.85, 2.35, 2_000)})
    assert (status, body["code"]) == (422, "LOCATION_VERIFICATION.AREA_NOT_COVERED")
    status, body, headers = await api.post(VERIFY, {"device": device, "area": circle(*SPOT, 0)},
                                           **{"x-correlator": "bad correlator!"})  # fmt: skip
    assert (status, body["code"]) == (400, "INVALID_ARGUMENT") and "x-correlator" not in headers
    assert await api.cdrs() == ["location_rest"] * 3


def test_verify_circle_geometry() -> None:
    from datetime import UTC, datetime

    fix = Fix(50.0, 4.0, 100.0, datetime.now(UTC))
    assert verify_circle(fix, 50.0, 4.0, 1000) == ("TRUE", None)
    assert verify_circle(fix, 50.1, 4.0, 1000) == ("FALSE", None)
    result, rate = verify_circle(fix, 50.0 + 100 / 111_195, 4.0, 100)  # centres 100 m apart, equal radii
    assert result == "PARTIAL" and rate == round(100 * overlap_area(100, 100, 100) / (math.pi * 100**2))
    assert overlap_area(0, 5, 10) == pytest.approx(math.pi * 25)


async def test_max_surface_is_the_accuracy_asked(api: Api) -> None:
    status, body, _ = await api.post(RETRIEVE, {"device": {"phoneNumber": EXACT}, "maxSurface": 100_000})
    assert status == 200, body
    assert math.pi * body["area"]["radius"] ** 2 <= 100_000 * 1.05
