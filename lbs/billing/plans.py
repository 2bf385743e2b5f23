"""Price plans and provider contracts in PostgreSQL: create, read, and find the tariff in force for an event.

Plans are immutable once created (CDRs name the plan that priced them); a new price is a new plan code and a
new contract from a date. Contracts of one provider never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeAlias

import asyncpg

from lbs.billing.errors import ContractOverlap
from lbs.billing.rating import (
    DEFAULT_PLAN,
    Account,
    ChargingPoint,
    EventRate,
    EventType,
    RatePlan,
    Tier,
    validate_plan,
)
from lbs.errors import Conflict, InvalidArgument, NotFound

# A plain connection or one from a pool: both work, inside or outside a transaction.
Conn: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"


@dataclass(frozen=True)
class Tariff:
    """The plan and account type in force for a provider at an instant (``contract_id`` None: default plan)."""

    plan: RatePlan
    account: Account
    contract_id: int | None


@dataclass(frozen=True)
class Contract:
    """A provider's contract: one plan, prepaid or postpaid, over ``[valid_from, valid_to)``."""

    id: int
    provider_id: int
    plan_code: str
    account: Account
    valid_from: date
    valid_to: date | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider_id": self.provider_id,
            "plan_code": self.plan_code,
            "account": self.account.value,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
        }


def plan_to_json(plan: RatePlan) -> dict[str, Any]:
    """The API shape of a plan (also the shape :func:`create_plan` input takes)."""
    return {
        "code": plan.code,
        "name": plan.name,
        "currency": plan.currency,
        "charging_point": plan.charging_point.value,
        "mt_r_share_bp": plan.mt_r_share_bp,
        "mo_premium_share_bp": plan.mo_premium_share_bp,
        "rates": [
            {
                "event_type": et.value,
                "free_units": rate.free_units,
                "tiers": [{"from_units": t.from_units, "unit_price_minor": t.unit_price_minor} for t in rate.tiers],
            }
            for et, rate in sorted(plan.rates.items())
        ],
    }


async def create_plan(conn: Conn, plan: RatePlan) -> int:
    """Validate and store ``plan``; all of it or nothing. A taken code is a :class:`Conflict`."""
    validate_plan(plan)
    async with conn.transaction():
        try:
            plan_id: int = await conn.fetchval(
                "INSERT INTO billing_plans (code, name, currency, charging_point, mt_r_share_bp, mo_premium_share_bp)"
                " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                plan.code,
                plan.name,
                plan.currency,
                plan.charging_point.value,
                plan.mt_r_share_bp,
                plan.mo_premium_share_bp,
            )
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(f"a plan with code {plan.code!r} exists; plans are immutable, use a new code") from exc
        await conn.executemany(
            "INSERT INTO billing_plan_rates (plan_id, event_type, from_units, unit_price_minor)"
            " VALUES ($1, $2, $3, $4)",
            [(plan_id, et.value, t.from_units, t.unit_price_minor) for et, r in plan.rates.items() for t in r.tiers],
        )
        await conn.executemany(
            "INSERT INTO billing_plan_allowances (plan_id, event_type, free_units) VALUES ($1, $2, $3)",
            [(plan_id, et.value, r.free_units) for et, r in plan.rates.items() if r.free_units],
        )
    return plan_id


# Plans are immutable (no code path updates one), so a plan read once is kept, keyed by its id *and* creation
# instant: an id reused after a TRUNCATE ... RESTART IDENTITY (tests) never returns a stale plan.
_PLAN_CACHE: dict[tuple[int, datetime], RatePlan] = {}
_PLAN_CACHE_MAX = 256


async def _plan_from_row(conn: Conn, row: asyncpg.Record) -> RatePlan:
    key = (row["id"], row["created_at"])
    cached = _PLAN_CACHE.get(key)
    if cached is not None:
        return cached
    rows = await conn.fetch(
        "SELECT event_type, from_units, unit_price_minor, NULL::bigint FROM billing_plan_rates WHERE plan_id = $1"
        " UNION ALL SELECT event_type, NULL, NULL, free_units FROM billing_plan_allowances WHERE plan_id = $1"
        " ORDER BY 1, 2",
        row["id"],
    )
    tiers: dict[EventType, list[Tier]] = {}
    free: dict[EventType, int] = {}
    for event_type, from_units, price, free_units in rows:
        if free_units is not None:
            free[EventType(event_type)] = int(free_units)
        else:
            tiers.setdefault(EventType(event_type), []).append(Tier(from_units, price))
    plan = RatePlan(
        code=row["code"],
        name=row["name"],
        currency=row["currency"],
        charging_point=ChargingPoint(row["charging_point"]),
        rates={et: EventRate(tuple(ts), free.get(et, 0)) for et, ts in tiers.items()},
        mt_r_share_bp=row["mt_r_share_bp"],
        mo_premium_share_bp=row["mo_premium_share_bp"],
    )
    if len(_PLAN_CACHE) >= _PLAN_CACHE_MAX:
        _PLAN_CACHE.clear()
    _PLAN_CACHE[key] = plan
    return plan


_PLAN_COLUMNS = (
    "p.id, p.code, p.name, p.currency, p.charging_point, p.mt_r_share_bp, p.mo_premium_share_bp, p.created_at"
)


async def get_plan(conn: Conn, code: str) -> RatePlan:
    """The plan ``code``, or :class:`NotFound`."""
    row = await conn.fetchrow(f"SELECT {_PLAN_COLUMNS} FROM billing_plans p WHERE p.code = $1", code)  # noqa: S608
    if row is None:
        raise NotFound(f"no price plan with code {code!r}")
    return await _plan_from_row(conn, row)


async def list_plans(conn: Conn) -> list[RatePlan]:
    """Every plan, by code."""
    rows = await conn.fetch(f"SELECT {_PLAN_COLUMNS} FROM billing_plans p ORDER BY p.code")  # noqa: S608
    return [await _plan_from_row(conn, r) for r in rows]


async def tariff_for(conn: Conn, provider_id: int, at: datetime) -> Tariff:
    """The tariff in force for ``provider_id`` on the day of ``at`` (UTC); the default plan when no contract."""
    day = at.astimezone(UTC).date()
    row = await conn.fetchrow(
        f"SELECT c.id AS contract_id, c.account, {_PLAN_COLUMNS} FROM billing_contracts c"  # noqa: S608
        " JOIN billing_plans p ON p.id = c.plan_id"
        " WHERE c.provider_id = $1 AND c.valid_from <= $2 AND (c.valid_to IS NULL OR c.valid_to > $2)",
        provider_id,
        day,
    )
    if row is None:
        return Tariff(DEFAULT_PLAN, Account.POSTPAID, None)
    return Tariff(await _plan_from_row(conn, row), Account(row["account"]), row["contract_id"])


async def create_contract(
    conn: Conn, *, provider_id: int, plan_code: str, account: Account, valid_from: date, valid_to: date | None
) -> Contract:
    """Give ``provider_id`` the plan ``plan_code`` over ``[valid_from, valid_to)``; refuse overlaps (409)."""
    if valid_to is not None and valid_to <= valid_from:
        raise InvalidArgument("valid_to must be after valid_from")
    async with conn.transaction():
        # Lock the provider row: contracts of one provider are added one at a time, so the overlap check holds.
        if await conn.fetchval("SELECT id FROM providers WHERE id = $1 FOR UPDATE", provider_id) is None:
            raise NotFound(f"no provider with id {provider_id}")
        plan_id = await conn.fetchval("SELECT id FROM billing_plans WHERE code = $1", plan_code)
        if plan_id is None:
            raise InvalidArgument(f"unknown plan code {plan_code!r}", code="UNKNOWN_PLAN")
        clash = await conn.fetchrow(
            "SELECT id, valid_from, valid_to FROM billing_contracts WHERE provider_id = $1"
            " AND daterange(valid_from, valid_to) && daterange($2::date, $3::date) LIMIT 1",
            provider_id,
            valid_from,
            valid_to,
        )
        if clash is not None:
            until = clash["valid_to"].isoformat() if clash["valid_to"] else "open end"
            raise ContractOverlap(
                f"provider {provider_id} already has contract {clash['id']} from {clash['valid_from']} to {until}"
            )
        cid: int = await conn.fetchval(
            "INSERT INTO billing_contracts (provider_id, plan_id, account, valid_from, valid_to)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            provider_id,
            plan_id,
            account.value,
            valid_from,
            valid_to,
        )
    return Contract(cid, provider_id, plan_code, account, valid_from, valid_to)


async def list_contracts(conn: Conn, provider_id: int | None = None) -> list[Contract]:
    """Contracts of one provider (or all), oldest first."""
    rows = await conn.fetch(
        "SELECT c.id, c.provider_id, p.code, c.account, c.valid_from, c.valid_to FROM billing_contracts c"
        " JOIN billing_plans p ON p.id = c.plan_id WHERE $1::bigint IS NULL OR c.provider_id = $1"
        " ORDER BY c.provider_id, c.valid_from",
        provider_id,
    )
    return [Contract(r[0], r[1], r[2], Account(r[3]), r[4], r[5]) for r in rows]
