"""Scopes on API keys and the device token flow: SMS one-time code through the outbox, JWT, UNNECESSARY_IDENTIFIER."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from api.app import create_app
from lbs.apikeys import create_key
from lbs.errors import Unauthenticated
from lbs.oauth import tokens
from lbs.settings import Settings
from tests.camara.spec import validate_response

NOW = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
MSISDN = "+32470000021"


def test_token_round_trip_and_expiry() -> None:
    token = tokens.issue("s" * 32, "g1", "APP", frozenset({tokens.RETRIEVE}), NOW, 60)
    claims = tokens.verify("s" * 32, token, NOW + timedelta(seconds=59))
    assert (claims.grant, claims.application, claims.scopes) == ("g1", "APP", frozenset({tokens.RETRIEVE}))
    with pytest.raises(Unauthenticated, match="expired"):
        tokens.verify("s" * 32, token, NOW + timedelta(seconds=60))
    with pytest.raises(Unauthenticated):
        tokens.verify("t" * 32, token, NOW)


@pytest.fixture
async def client(settings: Settings, db: asyncpg.Connection[Any], aiohttp_client: Any) -> TestClient:
    return await aiohttp_client(create_app(settings.model_copy(update={"smpp_enabled": False})))  # type: ignore[no-any-return]


async def test_scopes_and_device_token_flow(client: TestClient, db: asyncpg.Connection[Any]) -> None:
    await db.execute("INSERT INTO providers (name) VALUES ('CityGuide')")
    await db.execute("INSERT INTO applications (provider_id, name) SELECT id, 'CITYGUIDE' FROM providers")
    await db.execute("INSERT INTO subscribers (msisdn) VALUES ($1)", MSISDN)
    full = await create_key(db, role="provider", name="all", provider="CityGuide")  # no scopes named: all of them
    narrow = await create_key(db, role="provider", name="n", provider="CityGuide", scopes=[tokens.VERIFY])
    body = {"device": {"phoneNumber": "+32479999999"}}
    resp = await client.post("/location-retrieval/v0.5/retrieve", json=body,
                             headers={"Authorization": f"Bearer {narrow}"})  # fmt: skip
    assert (resp.status, (await resp.json())["code"]) == (403, "PERMISSION_DENIED")
    validate_response("location-retrieval", "post", "/retrieve", 403, await resp.json())
    key = {"Authorization": f"Bearer {full}"}
    start = {"login_hint": f"tel:{MSISDN}", "scope": f"{tokens.RETRIEVE} {tokens.GEOFENCING_READ}"}
    resp = await client.post("/oauth/authorize", json=start, headers=key)
    started = await resp.json()
    assert resp.status == 200, started
    sms = await db.fetchval("SELECT body FROM mt_messages WHERE msisdn = $1", MSISDN)
    otp = sms.split()[0]
    confirm = f"/oauth/authorize/{started['request_id']}/confirm"
    wrong = "000000" if otp != "000000" else "111111"
    assert (await client.post(confirm, json={"otp": wrong})).status == 403
    resp = await client.post(confirm, json={"otp": otp})
    code = (await resp.json())["code"]
    resp = await client.post("/oauth/token", json={"grant_type": "authorization_code", "code": code}, headers=key)
    issued = await resp.json()
    assert resp.status == 200 and issued["token_type"] == "Bearer", issued
    assert MSISDN not in issued["access_token"]
    assert (await client.post("/oauth/token", json={"grant_type": "authorization_code", "code": code},
                              headers=key)).status == 400  # fmt: skip  # a code is good once
    bearer = {"Authorization": f"Bearer {issued['access_token']}", "x-correlator": "t-1"}
    resp = await client.post("/location-retrieval/v0.5/retrieve", json={"device": {"phoneNumber": MSISDN}},
                             headers=bearer)  # fmt: skip
    data = await resp.json()
    assert (resp.status, data["code"]) == (422, "UNNECESSARY_IDENTIFIER")
    validate_response("location-retrieval", "post", "/retrieve", 422, data, resp.headers)
    resp = await client.post("/location-verification/v3/verify", headers=bearer, json={
        "area": {"areaType": "CIRCLE", "center": {"latitude": 50.85, "longitude": 4.35}, "radius": 500}})  # fmt: skip
    assert (resp.status, (await resp.json())["code"]) == (403, "PERMISSION_DENIED")  # not in the token's scopes
    resp = await client.get("/geofencing-subscriptions/v0.5/subscriptions", headers=bearer)
    assert (resp.status, await resp.json()) == (200, [])
    expired = tokens.issue(Settings().oauth_jwt_secret, "g", "CITYGUIDE", frozenset({tokens.RETRIEVE}),
                           datetime.now(UTC) - timedelta(hours=1), 60)  # fmt: skip
    resp = await client.post("/location-retrieval/v0.5/retrieve", json={},
                             headers={"Authorization": f"Bearer {expired}"})  # fmt: skip
    assert (resp.status, (await resp.json())["code"]) == (401, "UNAUTHENTICATED")
    assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {issued['access_token']}"})).status == 401
