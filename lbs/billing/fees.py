"""Operator-added charges: one-off set-up fees, the OADC option and other monthly options.

Short code rent and throughput options are not stored here: they follow from ``short_codes`` (who holds which
code at which throughput) and the :class:`~lbs.billing.rating.FeeSchedule` at statement time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, TypeAlias

import asyncpg

from lbs.billing.rating import FeeSchedule, period_label
from lbs.db import Executor
from lbs.errors import InvalidArgument, NotFound
from lbs.settings import Settings

# A plain connection or one from a pool: both work, inside or outside a transaction.
Conn: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"

FEE_KINDS = ("setup", "oadc", "other")
MAX_FEE_MINOR = 10_000_000  # 100,000.00: larger one-off charges are a contract matter, not an API call


@dataclass(frozen=True)
class Fee:
    """A charge on a provider's statement: once in ``starts_on``'s month, or monthly until ``ends_on``."""

    id: int
    provider_id: int
    kind: str
    description: str
    short_code: str | None
    amount_minor: int
    currency: str
    recurring: bool
    starts_on: date
    ends_on: date | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider_id": self.provider_id,
            "kind": self.kind,
            "description": self.description,
            "short_code": self.short_code,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "recurring": self.recurring,
            "starts": period_label(self.starts_on),
            "ends": period_label(self.ends_on) if self.ends_on else None,
        }


def _amount(kind: str, amount_minor: object, schedule: FeeSchedule) -> int:
    if amount_minor is None and kind == "oadc":
        return schedule.oadc_minor
    if not isinstance(amount_minor, int) or isinstance(amount_minor, bool) or not 0 < amount_minor <= MAX_FEE_MINOR:
        raise InvalidArgument(f"a fee is a whole number of minor units from 1 to {MAX_FEE_MINOR}, not {amount_minor!r}")
    return amount_minor


async def add_fee(
    conn: Conn,
    *,
    provider_id: int,
    kind: str,
    starts_on: date,
    schedule: FeeSchedule,
    amount_minor: int | None = None,
    description: str | None = None,
    ends_on: date | None = None,
    short_code: str | None = None,
) -> Fee:
    """Add a fee: ``setup`` is one-off, ``oadc`` (default price from the schedule) and ``other`` are monthly."""
    if kind not in FEE_KINDS:
        raise InvalidArgument(f"fee kind must be one of {', '.join(FEE_KINDS)}, not {kind!r}")
    amount = _amount(kind, amount_minor, schedule)
    recurring = kind != "setup"
    if ends_on is not None and (not recurring or ends_on <= starts_on):
        raise InvalidArgument("ends is only for monthly fees, and must be after starts")
    text = description or {"setup": "Set-up fee", "oadc": "OADC option (alphanumeric sender)"}.get(kind, "Option")
    row = await conn.fetchrow(
        "INSERT INTO billing_fees (provider_id, kind, description, short_code, amount_minor, currency, recurring,"
        " starts_on, ends_on) SELECT id, $2, $3, $4, $5, $6, $7, $8, $9 FROM providers WHERE id = $1 RETURNING id",
        provider_id,
        kind,
        text,
        short_code,
        amount,
        schedule.currency,
        recurring,
        starts_on,
        ends_on,
    )
    if row is None:
        raise NotFound(f"no provider with id {provider_id}")
    return Fee(row["id"], provider_id, kind, text, short_code, amount, schedule.currency, recurring, starts_on, ends_on)


async def list_fees(conn: Conn, provider_id: int | None = None) -> list[Fee]:
    """Fees of one provider (or all), oldest first."""
    rows = await conn.fetch(
        "SELECT id, provider_id, kind, description, short_code, amount_minor, currency, recurring, starts_on, ends_on"
        " FROM billing_fees WHERE $1::bigint IS NULL OR provider_id = $1 ORDER BY id",
        provider_id,
    )
    return [Fee(*r) for r in rows]


def schedule_from(settings: Settings) -> FeeSchedule:
    """The fee schedule the settings describe."""
    return FeeSchedule(
        currency=settings.billing_currency,
        short_code_minor=settings.billing_short_code_fee_minor,
        short_code_over_limit_minor=settings.billing_short_code_fee_over_limit_minor,
        short_code_limit=settings.billing_short_code_fee_limit,
        throughput_minor=dict(settings.billing_throughput_fees_minor),
        oadc_minor=settings.billing_oadc_fee_minor,
    )


async def has_active_fee(conn: Executor, provider_id: int, kind: str, on: date) -> bool:
    """Whether the provider pays for ``kind`` (e.g. the OADC option) in ``on``'s month."""
    found = await conn.fetchval(
        "SELECT 1 FROM billing_fees WHERE provider_id = $1 AND kind = $2 AND starts_on <= $3"
        " AND (ends_on IS NULL OR ends_on > $3) LIMIT 1",
        provider_id,
        kind,
        on,
    )
    return found is not None
