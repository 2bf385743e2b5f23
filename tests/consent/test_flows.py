"""Consent end to end: provider API -> SMS request -> YES by SMS -> LES sees the grant; officers; erasure; retention."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from api.keys import CLOCK_KEY, CONSENT_KEY, PG_POOL_KEY
from lbs.apikeys import create_key
from lbs.consent import audit, privacy_ops
from lbs.consent.decision import Purpose, Reason
from tests.conftest import Stack

SUB = "+32470000021"


@pytest.fixture
async def keys(stack: Stack, db: asyncpg.Connection[Any]) -> dict[str, str]:
    await db.execute("INSERT INTO providers (name) VALUES ('Rival')")
    await db.execute(
        "INSERT INTO applications (provider_id, name) SELECT id, 'RIVALAPP' FROM providers WHERE name = 'Rival'"
    )
    return {
        "cityguide": await create_key(db, role="provider", name="cg", provider="CityGuide"),
        "rival": await create_key(db, role="provider", name="rv", provider="Rival"),
        "officer": await create_key(db, role="officer", name="dpo"),
    }


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def call(stack: Stack, method: str, path: str, token: str, **kw: Any) -> tuple[int, Any]:
    async with stack.http.request(method, stack.api + path, headers=auth(token), **kw) as resp:
        ctype = resp.content_type
        return resp.status, (await resp.json()) if ctype == "application/json" else await resp.text()


async def test_request_yes_list_pause_stop(stack: Stack, keys: dict[str, str], db: asyncpg.Connection[Any]) -> None:
    body = {"msisdn": SUB, "application": "CITYGUIDE", "purpose": "active_lookup"}
    status, _ = await call(stack, "POST", "/v1/consents/requests", keys["cityguide"], json=body)
    assert status == 202
    request_sms = (await stack.wait_inbox(SUB, 1))[0]["text"]
    assert "CITYGUIDE" in request_sms and (
        "YES CITYGUIDE" in request_sms or "OUI CITYGUIDE" in request_sms or "JA CITYGUIDE" in request_sms
    )

    await stack.mo(SUB, "oui cityguide")
    granted = (await stack.wait_inbox(SUB, 2))[1]["text"]
    assert "CITYGUIDE" in granted
    service = stack.app[CONSENT_KEY]
    decision = await service.check(SUB, "CITYGUIDE", Purpose.ACTIVE_LOOKUP)
    assert decision.allowed
    row = await db.fetchrow("SELECT source, proof FROM consent_grants")
    assert row is not None and row["source"] == "sms" and '"mo_message_id": "mo:' in row["proof"]

    status, data = await call(stack, "GET", f"/v1/consents?msisdn={SUB}", keys["cityguide"])
    assert status == 200 and [g["state"] for g in data["grants"]] == ["active"]
    status, data = await call(stack, "GET", f"/v1/consents?msisdn={SUB}", keys["rival"])
    assert data["grants"] == []  # never another provider's grants

    await stack.mo(SUB, "LOC LIST")
    assert "CITYGUIDE" in (await stack.wait_inbox(SUB, 3))[2]["text"]
    await stack.mo(SUB, "PAUSE 2H")
    assert "2" in (await stack.wait_inbox(SUB, 4))[3]["text"]
    assert (await service.check(SUB, "CITYGUIDE", Purpose.ACTIVE_LOOKUP)).reason == Reason.CONSENT_PAUSED
    await stack.mo(SUB, "STOP CITYGUIDE")
    assert "CITYGUIDE" in (await stack.wait_inbox(SUB, 5))[4]["text"]
    decision = await service.check(SUB, "CITYGUIDE", Purpose.ACTIVE_LOOKUP)
    assert (decision.allowed, decision.reason) == (False, Reason.CONSENT_PAUSED)  # pause first, revoked underneath
    grants, _ = await service.grants(SUB)
    assert grants[0].revoked_at is not None
    checked, broken = await audit.verify(db)
    assert broken is None and checked >= 4


async def test_cross_tenant_requests_are_404(stack: Stack, keys: dict[str, str]) -> None:
    body = {"msisdn": SUB, "application": "CITYGUIDE", "purpose": "active_lookup"}
    status, data = await call(stack, "POST", "/v1/consents/requests", keys["rival"], json=body)
    assert (status, data["code"]) == (404, "NOT_FOUND")
    await asyncio.sleep(0.3)
    assert await stack.inbox(SUB) == []  # nothing was sent


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"msisdn": SUB, "application": "CITYGUIDE", "purpose": "spying"}, "purpose"),
        ({"msisdn": SUB, "application": "CITYGUIDE", "purpose": "marketing", "precision": "perfect"}, "precision"),
        ({"msisdn": "12", "application": "CITYGUIDE", "purpose": "marketing"}, "msisdn"),
    ],
)
async def test_bad_requests_are_400(stack: Stack, keys: dict[str, str], body: dict[str, Any], field: str) -> None:
    status, data = await call(stack, "POST", "/v1/consents/requests", keys["cityguide"], json=body)
    assert (status, data["code"]) == (400, "INVALID_ARGUMENT")
    assert field in data["message"] or "phone number" in data["message"]


async def test_unknown_subscriber_is_404(stack: Stack, keys: dict[str, str]) -> None:
    body = {"msisdn": "+32479999999", "application": "CITYGUIDE", "purpose": "active_lookup"}
    status, data = await call(stack, "POST", "/v1/consents/requests", keys["cityguide"], json=body)
    assert (status, data["code"]) == (404, "NOT_FOUND")


async def test_yes_to_unknown_application_gets_help(stack: Stack) -> None:
    await stack.mo(SUB, "YES NOSUCHAPP")
    reply = (await stack.wait_inbox(SUB, 1))[0]["text"]
    assert "NOSUCHAPP" in reply and "LOC LIST" in reply


async def test_loc_off_revokes_every_location_grant(stack: Stack) -> None:
    await stack.mo(SUB, "YES CITYGUIDE")
    await stack.wait_inbox(SUB, 1)
    await stack.mo(SUB, "LOC OFF")
    await stack.wait_inbox(SUB, 2)
    decision = await stack.app[CONSENT_KEY].check(SUB, "CITYGUIDE", Purpose.ACTIVE_LOOKUP)
    assert decision.reason == Reason.CONSENT_REVOKED


async def test_officer_flow(stack: Stack, keys: dict[str, str], db: asyncpg.Connection[Any]) -> None:
    await stack.mo(SUB, "YES CITYGUIDE")
    await stack.wait_inbox(SUB, 1)
    officer = keys["officer"]
    status, data = await call(stack, "GET", f"/v1/privacy/subscribers/{SUB}/grants", officer)
    assert status == 200 and data["grants"][0]["application"] == "CITYGUIDE"
    status, data = await call(stack, "POST", f"/v1/privacy/subscribers/{SUB}/revoke", officer, json={})
    assert (status, data["code"]) == (400, "INVALID_ARGUMENT") and "reason" in data["message"]
    status, data = await call(
        stack, "POST", f"/v1/privacy/subscribers/{SUB}/pause", officer, json={"duration": "1D", "reason": "complaint"}
    )
    assert status == 200 and data["paused_until"]
    status, data = await call(
        stack,
        "POST",
        f"/v1/privacy/subscribers/{SUB}/revoke",
        officer,
        json={"application": "CITYGUIDE", "reason": "subscriber called the helpdesk"},
    )
    assert status == 200 and data["grants"][0]["state"] == "revoked"
    status, data = await call(stack, "GET", f"/v1/privacy/subscribers/{SUB}/audit", officer)
    kinds = [(e["kind"], e["details"]["action"]) for e in data["entries"]]
    assert kinds == [("consent", "grant"), ("consent", "pause"), ("consent", "revoke")]
    assert data["entries"][2]["actor"] == "dpo" and data["entries"][2]["details"]["proof"]["reason"].startswith("sub")
    status, text = await call(stack, "GET", f"/v1/privacy/subscribers/{SUB}/export?format=csv", officer)
    assert status == 200 and "CITYGUIDE" in text and "YES CITYGUIDE" in text
    status, data = await call(stack, "GET", f"/v1/privacy/subscribers/{SUB}/export", officer)
    assert data["grants"][0]["application"] == "CITYGUIDE" and data["messages_received"][0]["body"] == "YES CITYGUIDE"
    status, data = await call(stack, "GET", "/v1/privacy/subscribers/%2B32470000021/grants", keys["cityguide"])
    assert status == 403


async def test_erasure(stack: Stack, keys: dict[str, str], db: asyncpg.Connection[Any]) -> None:
    await stack.mo(SUB, "YES CITYGUIDE")
    await stack.wait_inbox(SUB, 1)
    await stack.mo(SUB, "STOP")  # opted out of marketing before being erased
    await stack.wait_inbox(SUB, 2)
    status, _ = await call(stack, "POST", f"/v1/privacy/subscribers/{SUB}/erase", keys["officer"], json={})
    assert status == 400
    status, data = await call(
        stack, "POST", f"/v1/privacy/subscribers/{SUB}/erase", keys["officer"], json={"reason": "art. 17 request"}
    )
    assert status == 200 and data["erased"]["subscribers"] == 1
    for table in ("subscribers", "consent_grants", "mt_messages", "mo_messages"):
        rows = await db.fetch(f"SELECT * FROM {table}")
        assert SUB not in str([dict(r) for r in rows]), table
    assert await db.fetchval("SELECT count(*) FROM mt_messages WHERE body IS NOT NULL") == 0
    # The STOP list still knows the (hashed) number: an erased subscriber is not contacted again.
    subject = audit.pseudonym(stack.settings.pseudonym_key, SUB)
    assert await db.fetchval("SELECT count(*) FROM opt_outs WHERE subject = $1", subject) == 1
    checked, broken = await audit.verify(db)
    assert broken is None and checked >= 2


async def test_retention_with_a_virtual_clock(stack: Stack, keys: dict[str, str], db: asyncpg.Connection[Any]) -> None:
    await stack.mo(SUB, "PING")
    await stack.wait_inbox(SUB, 1)
    await asyncio.sleep(0.3)  # the receipt marks the reply delivered
    status, data = await call(stack, "PUT", "/v1/privacy/retention", keys["officer"], json={"message_bodies_s": 3600})
    assert status == 200 and data["message_bodies"] == 3600
    status, data = await call(stack, "PUT", "/v1/privacy/retention", keys["officer"], json={"message_bodies_s": -1})
    assert status == 400
    pool = stack.app[PG_POOL_KEY]
    now = stack.app[CLOCK_KEY]()
    assert (await privacy_ops.run_retention(pool, stack.settings, now + timedelta(minutes=59)))["message_bodies"] == 0
    touched = await privacy_ops.run_retention(pool, stack.settings, now + timedelta(minutes=61))
    assert touched["message_bodies"] == 2  # the MO and its reply
    assert await db.fetchval("SELECT count(*) FROM mo_messages WHERE body IS NOT NULL") == 0
