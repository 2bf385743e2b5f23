"""Billing end to end over both emulators: one active query = exactly one location CDR and one MT CDR per segment."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import asyncpg

from api.keys import CONSENT_KEY
from lbs.consent import registry
from lbs.consent.decision import Precision, Purpose
from tests.conftest import Stack

SUB = "+32470000031"


async def test_one_location_cdr_and_one_mt_cdr_per_segment(stack: Stack, db: asyncpg.Connection[Any]) -> None:
    await stack.app[CONSENT_KEY].grant(
        SUB, "CITYGUIDE", Purpose.ACTIVE_LOOKUP, Precision.EXACT, registry.Source("api", "t", {}), timedelta(days=1)
    )
    await stack.mo(SUB, "PHARMACY")
    reply = (await stack.wait_inbox(SUB, 1))[0]["text"]
    assert reply.startswith("Nearest pharmacies") or reply.startswith("Pharmacies"), reply
    deadline = asyncio.get_running_loop().time() + 10
    while await db.fetchval("SELECT count(*) FROM mt_messages WHERE status = 'delivered'") < 1:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    segments = await db.fetchval("SELECT segments FROM mt_messages WHERE msisdn = $1", SUB)
    await asyncio.sleep(0.3)  # the batched writer has recorded the receipt
    rows = await db.fetch("SELECT event_type, count(*) AS n FROM billing_cdrs GROUP BY event_type ORDER BY 1")
    assert {r["event_type"]: r["n"] for r in rows} == {"location_active": 1, "mt": segments}
    assert await db.fetchval("SELECT count(DISTINCT provider_id) FROM billing_cdrs") == 1  # CityGuide pays both


async def test_no_consent_no_location_no_bill(stack: Stack, db: asyncpg.Connection[Any]) -> None:
    await stack.mo(SUB, "PHARMACY")
    reply = (await stack.wait_inbox(SUB, 1))[0]["text"]
    assert "YES CITYGUIDE" in reply  # the consent request, nothing located
    await asyncio.sleep(0.5)
    assert await db.fetchval("SELECT count(*) FROM billing_cdrs WHERE event_type LIKE 'location%'") == 0
