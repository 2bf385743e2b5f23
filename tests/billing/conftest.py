"""Billing fixtures on top of tests/conftest.py: two providers, plans and a helper to build events."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import pytest

from lbs.billing.plans import create_contract, create_plan
from lbs.billing.rating import Account, ChargingPoint, EventRate, EventType, RatePlan, Tier, flat

NOV = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)

SUBMIT_PLAN = RatePlan(
    code="SUBMIT",
    name="Charged on submission",
    currency="EUR",
    charging_point=ChargingPoint.SUBMISSION,
    rates={
        EventType.LOCATION_ACTIVE: EventRate((Tier(0, 5), Tier(3, 4)), free_units=1),
        EventType.LOCATION_PASSIVE: flat(2),
        EventType.LOCATION_REST: flat(6),
        EventType.MT: flat(3),
        EventType.MT_R: flat(25),
        EventType.MO_R: flat(5),
        EventType.MO_PREMIUM: flat(100),
    },
    mt_r_share_bp=5_000,
    mo_premium_share_bp=6_000,
)
DELIVERY_PLAN = RatePlan(
    code="DELIVERY",
    name="Charged on delivery",
    currency="EUR",
    charging_point=ChargingPoint.DELIVERY,
    rates={EventType.MT: flat(3), EventType.LOCATION_ACTIVE: flat(5), EventType.MT_R: flat(20)},
    mt_r_share_bp=4_000,
)


@pytest.fixture
async def providers(db: asyncpg.Connection[Any]) -> dict[str, int]:
    rows = await db.fetch("INSERT INTO providers (name) VALUES ('Acme'), ('Other') RETURNING id, name")
    return {r["name"]: r["id"] for r in rows}


@pytest.fixture
async def plans(db: asyncpg.Connection[Any]) -> None:
    await create_plan(db, SUBMIT_PLAN)
    await create_plan(db, DELIVERY_PLAN)


async def contract(
    db: asyncpg.Connection[Any], provider_id: int, code: str, account: Account = Account.POSTPAID
) -> None:
    await create_contract(
        db, provider_id=provider_id, plan_code=code, account=account, valid_from=date(2026, 1, 1), valid_to=None
    )
