"""The operator's view of a month: revenue per short code and per provider, and the revenue-share lines.

Operator revenue of a CDR = what the provider pays, or, for subscriber-paid units (MT-R, premium MO), what the
subscriber pays minus the provider's share. Fees count for the short code they name (or "none").
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any, TypeAlias

import asyncpg

from lbs.billing.rating import FeeSchedule, period_label
from lbs.billing.statements import _billable_providers, fee_lines

# A plain connection or one from a pool: both work, inside or outside a transaction.
Conn: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"

NO_SHORT_CODE = "none"


async def _usage(conn: Conn, period: date) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT c.provider_id, p.name, coalesce(c.short_code, $2) AS short_code, c.payer, c.event_type,"
        " count(*) AS units, sum(c.amount_minor) AS amount, sum(c.share_minor) AS share"
        " FROM billing_cdrs c JOIN providers p ON p.id = c.provider_id WHERE c.period = $1"
        " GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 3, 5",
        period,
        NO_SHORT_CODE,
    )


async def revenue(conn: Conn, period: date, schedule: FeeSchedule) -> dict[str, Any]:
    """Revenue of ``period`` (open or closed) per short code, per provider, and the revenue-share lines."""
    by_code: dict[str, dict[str, int]] = defaultdict(lambda: {"usage_minor": 0, "fees_minor": 0, "units": 0})
    by_provider: dict[int, dict[str, Any]] = {}
    shares: list[dict[str, Any]] = []

    def provider(pid: int, name: str) -> dict[str, Any]:
        zero = {"usage_minor": 0, "subscriber_paid_minor": 0, "share_paid_minor": 0, "fees_minor": 0}
        return by_provider.setdefault(pid, {"provider_id": pid, "provider_name": name, **zero})

    for r in await _usage(conn, period):
        amount, share = int(r["amount"]), int(r["share"])
        p = provider(r["provider_id"], r["name"])
        code = by_code[r["short_code"]]
        code["units"] += int(r["units"])
        code["usage_minor"] += amount - share
        if r["payer"] == "provider":
            p["usage_minor"] += amount
            continue
        p["subscriber_paid_minor"] += amount
        p["share_paid_minor"] += share
        shares.append(
            {
                "provider_id": r["provider_id"],
                "provider_name": r["name"],
                "event_type": r["event_type"],
                "short_code": r["short_code"],
                "units": int(r["units"]),
                "subscriber_paid_minor": amount,
                "provider_share_minor": share,
                "operator_keeps_minor": amount - share,
            }
        )
    for pid in await _billable_providers(conn, period):
        name = await conn.fetchval("SELECT name FROM providers WHERE id = $1", pid)
        for line in await fee_lines(conn, pid, period, schedule):
            provider(pid, name)["fees_minor"] += line.amount_minor
            by_code[line.short_code or NO_SHORT_CODE]["fees_minor"] += line.amount_minor
    for p in by_provider.values():
        p["revenue_minor"] = p["usage_minor"] + p["subscriber_paid_minor"] - p["share_paid_minor"] + p["fees_minor"]
    codes = [{"short_code": c, **v, "revenue_minor": v["usage_minor"] + v["fees_minor"]} for c, v in by_code.items()]
    return {
        "period": period_label(period),
        "currency": schedule.currency,
        "total_revenue_minor": sum(p["revenue_minor"] for p in by_provider.values()),
        "by_short_code": sorted(codes, key=lambda c: str(c["short_code"])),
        "by_provider": [by_provider[k] for k in sorted(by_provider)],
        "revenue_share": shares,
    }
