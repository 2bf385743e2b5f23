"""Sending as someone else (issue 19): a promotion's sender is one of the provider's own short codes, the
platform's shared code, or its paid OADC; brands are per provider (daily slot, STOP counters)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from geofences.promotions import counters, oadc_of, on_stop
from geofences.rules import Outcome
from lbs.consent.decision import Purpose
from lbs.messaging import outbox
from lbs.pseudonym import pseudonym
from lbs.settings import Settings
from tests.geofences.conftest import client
from tests.geofences.test_promotions_api import MSISDN, NOW, auth, create, fire, grant, promotion

__all__ = ["client"]


async def _codes(db: asyncpg.Connection[Any]) -> None:
    await db.execute(
        "INSERT INTO short_codes (code, provider_id, system_id) SELECT '4444', id, 'demo' FROM providers"
        " WHERE name = 'PromoCity'"
    )
    await db.execute(
        "INSERT INTO short_codes (code, provider_id, system_id) SELECT '5555', id, 'demo' FROM providers"
        " WHERE name = 'Other'"
    )


async def _post(client: TestClient, token: str, **changes: Any) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/v1/promotions", json=promotion(**changes), headers=auth(token))
    return resp.status, await resp.json()


@pytest.mark.parametrize("source", ["5555", "BANK", "PROMOCITY", "Other", "7777"])
async def test_foreign_or_unpaid_senders_are_403(
    client: TestClient, keys: dict[str, str], db: asyncpg.Connection[Any], source: str
) -> None:
    await _codes(db)
    status, body = await _post(client, keys["promocity"], source=source)
    assert status == 403 and body["code"] == "PERMISSION_DENIED" and set(body) == {"status", "code", "message"}
    assert await db.fetchval("SELECT count(*) FROM promotions") == 0


async def test_own_short_code_shared_code_and_paid_oadc(
    client: TestClient, keys: dict[str, str], db: asyncpg.Connection[Any]
) -> None:
    await _codes(db)
    token = keys["promocity"]
    assert (await create(client, token, source="4444"))["source"] == "4444"
    assert (await create(client, token))["source"] == "3311"  # the platform's shared code, held by no provider
    pid = await db.fetchval("SELECT id FROM providers WHERE name = 'PromoCity'")
    month = NOW.date().replace(day=1)  # the app's clock (FrozenClock at NOW)
    await db.execute(
        "INSERT INTO billing_fees (provider_id, kind, description, amount_minor, currency, recurring, starts_on)"
        " VALUES ($1, 'oadc', 'OADC', 15000, 'EUR', true, $2)",
        pid,
        month,
    )
    assert oadc_of("PromoCity") == "PROMOCITY"
    assert (await create(client, token, source="PromoCity"))["source"] == "PromoCity"
    status, _ = await _post(client, token, source="BANK")  # paying for an OADC buys one's own name, not any
    assert status == 403
    last_month = (month - timedelta(days=1)).replace(day=1)
    await db.execute("UPDATE billing_fees SET starts_on = $1, ends_on = $2", last_month, month)  # the option ended
    status, _ = await _post(client, token, source="PromoCity")
    assert status == 403
    # a held shared code: once another provider holds the platform's code, it is theirs alone
    await db.execute(
        "INSERT INTO short_codes (code, provider_id, system_id) SELECT '3311', id, 'demo' FROM providers"
        " WHERE name = 'Other'"
    )
    status, _ = await _post(client, token)
    assert status == 403


async def test_patch_cannot_switch_to_anothers_sender_or_brand(
    client: TestClient, keys: dict[str, str], db: asyncpg.Connection[Any]
) -> None:
    await _codes(db)
    mine = await create(client, keys["promocity"], source="4444")
    url = f"/v1/promotions/{mine['id']}"
    resp = await client.patch(url, json={"source": "5555"}, headers=auth(keys["promocity"]))
    assert resp.status == 403
    status, body = await _post(client, keys["other"], application="OTHERAPP", brand="promocity", source="5555")
    assert status == 403 and "brand" in body["message"]  # PromoCity's brand, whatever the case
    theirs = await create(client, keys["other"], application="OTHERAPP", brand="OtherBrand", source="5555")
    resp = await client.patch(url, json={"brand": "OTHERBRAND"}, headers=auth(keys["promocity"]))
    assert resp.status == 403 and theirs["brand"] == "OTHERBRAND"


async def test_daily_slot_is_per_provider(db: asyncpg.Connection[Any], settings: Settings) -> None:
    await db.execute("INSERT INTO subscribers (msisdn) VALUES ($1)", MSISDN)

    async def send(provider_id: int | None, key: str) -> str:
        request = outbox.MtRequest(MSISDN, "Offer", "3311", "marketing", brand="SHARED", idempotency_key=key,
                                   provider_id=provider_id)  # fmt: skip
        result = await outbox.enqueue(db, request, now=NOW, pseudonym_key=settings.pseudonym_key, short_code="3311")
        return result.status

    assert await send(1, "a") in ("queued", "deferred")
    assert await send(2, "b") in ("queued", "deferred")  # another provider's same-named brand: its own slot
    assert await send(1, "c") == "suppressed:daily_brand_cap"
    rows = await db.fetch("SELECT provider_id FROM marketing_sends ORDER BY provider_id")
    assert [r["provider_id"] for r in rows] == [1, 2]


async def test_stop_counts_for_the_provider_that_sent_last(
    client: TestClient, keys: dict[str, str], db: asyncpg.Connection[Any], settings: Settings
) -> None:
    await grant(db, Purpose.GEOFENCING, Purpose.MARKETING)
    first = await create(client, keys["promocity"], brand="Shared")
    assert await fire(db, settings, first["id"], NOW) is Outcome.FIRED
    await client.delete(f"/v1/promotions/{first['id']}", headers=auth(keys["promocity"]))
    # the brand is free once its promotions are gone; the other provider's messages then count their own STOPs
    second = await create(client, keys["other"], application="OTHERAPP", brand="Shared", source="3311")
    await db.execute(
        "INSERT INTO promotion_triggers (promotion_id, subject, transition, idempotency_key, outcome, occurred_at)"
        " VALUES ($1, $2, 'enter', 'k2', 'fired', $3)",
        second["id"],
        pseudonym(settings.pseudonym_key, MSISDN),
        NOW + timedelta(days=1),
    )
    await on_stop(db, pseudonym(settings.pseudonym_key, MSISDN), "SHARED")
    assert (await counters(db, second["id"])).get("stops") == 1
    assert "stops" not in await counters(db, first["id"])
