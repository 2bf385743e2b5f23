"""Monthly statements: usage lines from CDRs, recurring and one-off fees, totals; closing a month exactly once.

An open month's statement is computed live (a preview); :func:`close_month` writes every provider's statement
for a month once, append-only, under an exclusive lock that :func:`lbs.billing.record` respects (shared), so no
CDR can slip into a month while it closes. Events that arrive for a closed month are billed in the next open one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeAlias

import asyncpg

from lbs.billing.errors import MonthAlreadyClosed
from lbs.billing.events import PERIOD_LOCK
from lbs.billing.plans import tariff_for
from lbs.billing.rating import (
    EventType,
    FeeSchedule,
    Line,
    ShortCodeHolding,
    Totals,
    UsageGroup,
    next_period,
    period_label,
    short_code_fee_lines,
    totals,
    usage_lines,
)
from lbs.errors import InvalidArgument, NotFound

# A plain connection or one from a pool: both work, inside or outside a transaction.
Conn: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"

TOTAL_COLUMNS = ("usage_minor", "fees_minor", "share_minor", "total_minor", "prepaid_minor", "due_minor")


@dataclass(frozen=True)
class Statement:
    """A provider's statement for one month; ``id`` is None while the month is open (a live preview)."""

    id: int | None
    provider_id: int
    provider_name: str
    period: date
    account: str
    currency: str
    lines: list[Line]
    totals: Totals
    closed_at: datetime | None = None

    @property
    def status(self) -> str:
        return "closed" if self.id is not None else "open"

    def to_json(self) -> dict[str, Any]:
        """The API shape: every amount in minor units beside its currency, totals excluding tax."""
        t = self.totals
        return {
            "id": self.id,
            "provider_id": self.provider_id,
            "provider_name": self.provider_name,
            "period": period_label(self.period),
            "status": self.status,
            "account": self.account,
            "currency": self.currency,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "lines": [
                {
                    "kind": line.kind,
                    "event_type": line.event_type,
                    "short_code": line.short_code,
                    "description": line.description,
                    "quantity": line.quantity,
                    "amount_minor": line.amount_minor,
                    "currency": self.currency,
                }
                for line in self.lines
            ],
            "totals": {
                "usage_minor": t.usage_minor,
                "fees_minor": t.fees_minor,
                "revenue_share_minor": t.share_minor,
                "total_excl_tax_minor": t.total_minor,
                "prepaid_minor": t.prepaid_minor,
                "due_minor": t.due_minor,
                "currency": self.currency,
            },
        }


async def usage_groups(conn: Conn, provider_id: int, period: date) -> list[UsageGroup]:
    """The provider's CDRs of ``period`` summed per event type, short code and payer."""
    rows = await conn.fetch(
        "SELECT event_type, short_code, payer, count(*) AS units, sum(amount_minor) AS amount,"
        " sum(share_minor) AS share,"
        " sum(CASE WHEN account = 'prepaid' AND payer = 'provider' THEN amount_minor ELSE 0 END) AS prepaid"
        " FROM billing_cdrs WHERE provider_id = $1 AND period = $2"
        " GROUP BY event_type, short_code, payer ORDER BY event_type, coalesce(short_code, ''), payer",
        provider_id,
        period,
    )
    return [UsageGroup(EventType(r[0]), r[1], r[2], int(r[3]), int(r[4]), int(r[5]), int(r[6])) for r in rows]


async def fee_lines(conn: Conn, provider_id: int, period: date, schedule: FeeSchedule) -> list[Line]:
    """Short code rent and throughput options (short codes held by the month's end), then the fees table."""
    holdings = await conn.fetch(
        "SELECT code, throughput_tps FROM short_codes WHERE provider_id = $1 AND created_at < $2"
        " ORDER BY created_at, code",
        provider_id,
        datetime.combine(next_period(period), datetime.min.time(), UTC),
    )
    lines = short_code_fee_lines([ShortCodeHolding(r[0], r[1]) for r in holdings], schedule)
    fees = await conn.fetch(
        "SELECT kind, description, short_code, amount_minor FROM billing_fees WHERE provider_id = $1"
        " AND ((recurring AND starts_on <= $2 AND (ends_on IS NULL OR ends_on > $2))"
        "      OR (NOT recurring AND starts_on = $2)) ORDER BY id",
        provider_id,
        period,
    )
    lines.extend(Line("fee", r["description"], 1, r["amount_minor"], short_code=r["short_code"]) for r in fees)
    return lines


async def build_statement(
    conn: Conn, provider_id: int, period: date, schedule: FeeSchedule, now: datetime
) -> Statement:
    """Compute the statement of ``provider_id`` for ``period`` as of ``now`` from CDRs and fees (nothing is written)."""
    name = await conn.fetchval("SELECT name FROM providers WHERE id = $1", provider_id)
    if name is None:
        raise NotFound(f"no provider with id {provider_id}")
    groups = await usage_groups(conn, provider_id, period)
    lines = usage_lines(groups) + await fee_lines(conn, provider_id, period, schedule)
    month_end = datetime.combine(next_period(period), datetime.min.time(), UTC)
    tariff = await tariff_for(conn, provider_id, min(month_end - timedelta(seconds=1), now))
    prepaid = sum(g.prepaid_minor for g in groups)
    return Statement(
        None, provider_id, name, period, tariff.account.value, schedule.currency, lines, totals(lines, prepaid)
    )


async def _billable_providers(conn: Conn, period: date) -> list[int]:
    rows = await conn.fetch(
        "SELECT provider_id FROM billing_cdrs WHERE period = $1"
        " UNION SELECT provider_id FROM short_codes WHERE provider_id IS NOT NULL"
        " UNION SELECT provider_id FROM billing_fees WHERE starts_on <= $1 AND (ends_on IS NULL OR ends_on > $1)"
        " UNION SELECT provider_id FROM billing_contracts"
        "   WHERE daterange(valid_from, valid_to) && daterange($1::date, $2::date)"
        " ORDER BY 1",
        period,
        next_period(period),
    )
    return [r[0] for r in rows]


async def close_month(
    conn: Conn, period: date, *, closed_by: str, schedule: FeeSchedule, now: datetime
) -> list[Statement]:
    """Write every provider's statement for ``period`` and mark it closed, exactly once, all or nothing.

    Refuses a month that has not ended yet (:class:`InvalidArgument`) and a month already closed
    (:class:`MonthAlreadyClosed`, 409).
    """
    if datetime.combine(next_period(period), datetime.min.time(), UTC) > now:
        raise InvalidArgument(f"{period_label(period)} has not ended yet; a month closes after its last day")
    out: list[Statement] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", PERIOD_LOCK)
        try:
            closed_at = await conn.fetchval(
                "INSERT INTO billing_months (period, closed_by) VALUES ($1, $2) RETURNING closed_at", period, closed_by
            )
        except asyncpg.UniqueViolationError as exc:
            raise MonthAlreadyClosed(f"{period_label(period)} is already closed; its statements exist") from exc
        for provider_id in await _billable_providers(conn, period):
            draft = await build_statement(conn, provider_id, period, schedule, now)
            out.append(await _store(conn, draft, closed_at))
    return out


async def _store(conn: Conn, s: Statement, closed_at: datetime) -> Statement:
    t = s.totals
    sid: int = await conn.fetchval(
        "INSERT INTO billing_statements (provider_id, period, account, currency, usage_minor, fees_minor,"
        " share_minor, total_minor, prepaid_minor, due_minor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " RETURNING id",
        s.provider_id,
        s.period,
        s.account,
        s.currency,
        t.usage_minor,
        t.fees_minor,
        t.share_minor,
        t.total_minor,
        t.prepaid_minor,
        t.due_minor,
    )
    await conn.executemany(
        "INSERT INTO billing_statement_lines (statement_id, position, kind, event_type, short_code, description,"
        " quantity, amount_minor, currency) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [
            (sid, i, ln.kind, ln.event_type, ln.short_code, ln.description, ln.quantity, ln.amount_minor, s.currency)
            for i, ln in enumerate(s.lines)
        ],
    )
    return Statement(sid, s.provider_id, s.provider_name, s.period, s.account, s.currency, s.lines, t, closed_at)


async def get_statement(conn: Conn, statement_id: int, provider_id: int | None = None) -> Statement:
    """A closed statement; with ``provider_id``, only that provider's (another's is :class:`NotFound`)."""
    row = await conn.fetchrow(
        "SELECT s.*, p.name, m.closed_at FROM billing_statements s JOIN providers p ON p.id = s.provider_id"
        " JOIN billing_months m ON m.period = s.period WHERE s.id = $1 AND ($2::bigint IS NULL OR s.provider_id = $2)",
        statement_id,
        provider_id,
    )
    if row is None:
        raise NotFound(f"no statement {statement_id}")
    rows = await conn.fetch(
        "SELECT kind, description, quantity, amount_minor, event_type, short_code FROM billing_statement_lines"
        " WHERE statement_id = $1 ORDER BY position",
        statement_id,
    )
    lines = [Line(*r) for r in rows]
    t = Totals(*(int(row[k]) for k in TOTAL_COLUMNS))
    return Statement(
        row["id"],
        row["provider_id"],
        row["name"],
        row["period"],
        row["account"],
        row["currency"],
        lines,
        t,
        row["closed_at"],
    )


async def list_statements(
    conn: Conn, *, provider_id: int | None = None, period: date | None = None
) -> list[dict[str, Any]]:
    """Closed statements (summaries), newest month first."""
    rows = await conn.fetch(
        "SELECT s.id, s.provider_id, p.name, s.period, s.account, s.currency, s.total_minor, s.due_minor"
        " FROM billing_statements s JOIN providers p ON p.id = s.provider_id"
        " WHERE ($1::bigint IS NULL OR s.provider_id = $1) AND ($2::date IS NULL OR s.period = $2)"
        " ORDER BY s.period DESC, s.provider_id",
        provider_id,
        period,
    )
    return [
        {
            "id": r["id"],
            "provider_id": r["provider_id"],
            "provider_name": r["name"],
            "period": period_label(r["period"]),
            "account": r["account"],
            "currency": r["currency"],
            "total_excl_tax_minor": r["total_minor"],
            "due_minor": r["due_minor"],
        }
        for r in rows
    ]


async def closed_months(conn: Conn) -> list[dict[str, Any]]:
    """Every closed month, newest first."""
    rows = await conn.fetch("SELECT period, closed_at, closed_by FROM billing_months ORDER BY period DESC")
    return [{"period": period_label(r[0]), "closed_at": r[1].isoformat(), "closed_by": r[2]} for r in rows]
