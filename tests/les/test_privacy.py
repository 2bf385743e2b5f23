"""The platform's /v1/privacy/check, alone and as the LES's default privacy checker (both over real HTTP)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from api.keys import CONSENT_KEY, SETTINGS_KEY
from api.middleware import error_middleware
from api.privacy import OPENAPI_PATHS, setup_privacy_routes
from lbs.clock import system_clock
from lbs.consent import registry
from lbs.consent.decision import Precision, Purpose
from lbs.consent.service import ConsentService
from lbs.db import create_pool
from lbs.mlp import MlpClient, PositioningNotAllowed, ResultCode
from lbs.mlp.errors import LesSystemFailure
from lbs.settings import Settings
from les_simulator.les.app import create_les_app
from les_simulator.les.clock import VirtualClock
from les_simulator.les.privacy import (
    CachingPrivacyChecker,
    PrivacyDecision,
    PrivacyQuery,
    PrivacyUnavailable,
)
from les_simulator.settings import LesSettings
from tests.les.conftest import COARSE, DENIED, GRANTED, START, make_les_settings, make_settings

KEY = "test-internal-key"


@pytest.fixture
async def privacy_server(settings: Settings, db: asyncpg.Connection[Any]) -> AsyncIterator[TestServer]:
    """The privacy endpoint with the consent registry behind it, on the test database."""
    app = web.Application(middlewares=[error_middleware])
    app[SETTINGS_KEY] = make_settings(privacy_internal_key=KEY)
    pool = await create_pool(settings)
    consent = ConsentService(pool, settings, system_clock)
    await grant_demo(db, consent)
    app[CONSENT_KEY] = consent
    setup_privacy_routes(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()
    await pool.close()


async def grant_demo(db: asyncpg.Connection[Any], consent: ConsentService) -> None:
    """Real grants (no allow-list exists): the LES's client "demo" asks as application DEMO."""
    await db.execute("INSERT INTO providers (name) VALUES ('Demo')")
    await db.execute("INSERT INTO applications (provider_id, name) SELECT id, 'DEMO' FROM providers")
    await db.executemany("INSERT INTO subscribers (msisdn) VALUES ($1)", [(GRANTED,), (COARSE,), (DENIED,)])
    source = registry.Source("officer", "test", {})
    await consent.grant(GRANTED, "DEMO", Purpose.ACTIVE_LOOKUP, Precision.EXACT, source)
    await consent.grant(COARSE, "DEMO", Purpose.ACTIVE_LOOKUP, Precision.COARSE, source)


async def check(http: aiohttp.ClientSession, server: TestServer, body: object, key: str = KEY) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {key}"}
    async with http.post(server.make_url("/v1/privacy/check"), json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_self_location_is_allowed(http: aiohttp.ClientSession, privacy_server: TestServer) -> None:
    status, body = await check(http, privacy_server, {"msisdn": DENIED, "application": "x", "requestor": "32470000003"})
    assert status == 200
    assert body == {
        "allowed": True,
        "precision": "exact",
        "reason": "self_location",
        "msisdn": DENIED,
        "application": None,
        "grant_id": None,
    }


@pytest.mark.parametrize(
    ("msisdn", "allowed", "precision"), [(GRANTED, True, "exact"), (COARSE, True, "coarse"), (DENIED, False, None)]
)
async def test_the_registry_decides_for_others(
    http: aiohttp.ClientSession, privacy_server: TestServer, msisdn: str, allowed: bool, precision: str | None
) -> None:
    status, body = await check(http, privacy_server, {"msisdn": msisdn, "application": "demo"})
    assert status == 200
    assert (body["allowed"], body["precision"]) == (allowed, precision)


async def test_grant_is_per_application(http: aiohttp.ClientSession, privacy_server: TestServer) -> None:
    _, body = await check(http, privacy_server, {"msisdn": GRANTED, "application": "someone-else"})
    assert body["allowed"] is False


@pytest.mark.parametrize(
    ("body", "key", "status", "code"),
    [
        ({"msisdn": GRANTED, "application": "demo"}, "wrong", 401, "UNAUTHENTICATED"),
        ({"msisdn": "not a number", "application": "demo"}, KEY, 400, "INVALID_ARGUMENT"),
        ({"application": "demo"}, KEY, 400, "INVALID_ARGUMENT"),
        ({"msisdn": GRANTED, "application": "demo", "purpose": "spying"}, KEY, 400, "INVALID_ARGUMENT"),
    ],
)
async def test_errors_have_the_house_shape(
    http: aiohttp.ClientSession, privacy_server: TestServer, body: object, key: str, status: int, code: str
) -> None:
    got_status, got = await check(http, privacy_server, body, key)
    assert got_status == status
    assert set(got) >= {"status", "code", "message"}
    assert (got["status"], got["code"]) == (status, code)


def test_openapi_fragment_documents_the_route() -> None:
    op = OPENAPI_PATHS["/v1/privacy/check"]["post"]
    assert {"200", "400", "401"} <= set(op["responses"])


async def _les_with_http_privacy(settings: LesSettings) -> TestServer:
    server = TestServer(create_les_app(settings, clock=VirtualClock(START)), host="127.0.0.1")
    await server.start_server()
    return server


async def test_les_asks_the_platform_before_disclosing(http: aiohttp.ClientSession, privacy_server: TestServer) -> None:
    url = str(privacy_server.make_url("/v1/privacy/check"))
    les = await _les_with_http_privacy(make_les_settings(les_privacy_url=url, privacy_internal_key=KEY))
    try:
        client = MlpClient(http, make_settings(les_url=str(les.make_url("/mlp"))))
        assert (await client.locate_self(DENIED)).precision == "exact"  # the platform's self-location client
        with pytest.raises(PositioningNotAllowed):  # the same claim from an ordinary client: the platform (whose
            await client.locate(DENIED, requestor=DENIED)  # check would take it for self-location) never sees it
        assert (await client.locate(COARSE)).precision == "coarse"
        with pytest.raises(PositioningNotAllowed):
            await client.locate(DENIED)
    finally:
        await les.close()


async def test_les_fails_closed_when_the_platform_is_unreachable(http: aiohttp.ClientSession) -> None:
    les = await _les_with_http_privacy(make_les_settings(les_privacy_url="http://127.0.0.1:9/v1/privacy/check"))
    try:
        client = MlpClient(http, make_settings(les_url=str(les.make_url("/mlp")), mlp_retries=0))
        with pytest.raises(LesSystemFailure) as info:
            await client.locate(GRANTED)
        assert info.value.result_code == ResultCode.SYSTEM_FAILURE
    finally:
        await les.close()


async def test_decisions_are_cached_for_a_while_but_failures_are_not() -> None:
    now = [0.0]
    calls: list[PrivacyQuery] = []
    fail = [False]

    class Counting:
        async def check(self, query: PrivacyQuery) -> PrivacyDecision:
            calls.append(query)
            if fail[0]:
                raise PrivacyUnavailable("down")
            return PrivacyDecision(True, "exact", "test")

    cache = CachingPrivacyChecker(Counting(), 30.0, now=lambda: now[0])
    query = PrivacyQuery(GRANTED, "demo")
    await cache.check(query)
    await cache.check(query)
    assert len(calls) == 1
    await cache.check(PrivacyQuery(GRANTED, "other-app"))
    assert len(calls) == 2
    now[0] = 31.0
    fail[0] = True
    with pytest.raises(PrivacyUnavailable):
        await cache.check(query)
    fail[0] = False
    assert (await cache.check(query)).allowed
    assert len(calls) == 4
