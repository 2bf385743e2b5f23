"""Property, on real PostgreSQL: whatever the traffic, a statement's total is the sum of its CDRs and its fees,
and every unit is billed exactly once however often its events are replayed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lbs.billing import LocationKind, LocationResult, MoCharge, MoMessage, MtSegment, record
from lbs.billing.events import BillableEvent
from lbs.billing.rating import FeeSchedule
from lbs.billing.statements import build_statement
from tests.billing.conftest import NOV, contract

KINDS = ["loc_active", "loc_passive", "loc_rest", "mt", "mt_r", "mo", "mo_r", "mo_premium"]
traffic = st.lists(
    st.tuples(st.sampled_from(KINDS), st.sampled_from([None, "3311", "4444"]), st.integers(0, 9)), max_size=25
)


def event(pid: int, kind: str, code: str | None, key: int) -> BillableEvent:
    base: dict[str, Any] = {"idempotency_key": f"{kind}:{key}", "provider_id": pid, "short_code": code,
                            "occurred_at": NOV + timedelta(minutes=key)}  # fmt: skip
    if kind.startswith("loc_"):
        return LocationResult(kind=LocationKind(kind[4:]), **base)
    if kind in ("mt", "mt_r"):
        return MtSegment(message_key=f"m{key}", reverse_charged=kind == "mt_r", subscriber="+32470000001", **base)
    charge = {"mo": MoCharge.STANDARD, "mo_r": MoCharge.REVERSE, "mo_premium": MoCharge.PREMIUM}[kind]
    return MoMessage(charge=charge, subscriber="+32470000002", **base)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(traffic=traffic, plan=st.sampled_from(["SUBMIT", "DEFAULT"]))
async def test_statement_total_is_cdrs_plus_fees(
    db: asyncpg.Connection[Any], providers: dict[str, int], plans: None, traffic: list[tuple[str, Any, int]], plan: str
) -> None:
    pid = providers["Acme"]
    await db.execute("TRUNCATE billing_cdrs, billing_counters, billing_pending_mt, billing_contracts CASCADE")
    if plan != "DEFAULT":
        await contract(db, pid, plan)
    for kind, code, key in traffic:
        await record(db, event(pid, kind, code, key))  # repeated (kind, key) pairs are replays
    unique = {(kind, key) for kind, _, key in traffic if plan != "DEFAULT" or not kind.startswith("mt")}
    assert await db.fetchval("SELECT count(*) FROM billing_cdrs") == len(unique)
    s = await build_statement(db, pid, date(2026, 11, 1), FeeSchedule(), datetime(2026, 12, 2, tzinfo=UTC))
    net = await db.fetchval(
        "SELECT coalesce(sum(CASE WHEN payer = 'provider' THEN amount_minor ELSE -share_minor END), 0)"
        " FROM billing_cdrs"
    )
    fees = sum(ln.amount_minor for ln in s.lines if ln.kind == "fee")
    assert s.totals.total_minor == net + fees
