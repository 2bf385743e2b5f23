"""Billing tables (mirrors migration 0003).

Money is ``BIGINT`` minor units (cents) with CHECK constraints, always beside a ``currency`` column. CDRs, the
prepaid ledger, closed months and statements are append-only (the ``lbs_append_only`` trigger of revision 0002).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from lbs.models import metadata

EVENT_TYPES = (
    "location_active",
    "location_passive",
    "location_rest",
    "mt",
    "mt_r",
    "mo",
    "mo_r",
    "mo_premium",
)
_EVENT_CHECK = "event_type IN (" + ", ".join(f"'{e}'" for e in EVENT_TYPES) + ")"
_CURRENCY_CHECK = "currency ~ '^[A-Z]{3}$'"
_FIRST_OF_MONTH = "extract(day from period) = 1"


def _ts(name: str, nullable: bool = False, now: bool = False) -> sa.Column[datetime]:
    default = sa.func.now() if now else None
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, server_default=default)


billing_plans = sa.Table(
    "billing_plans",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("code", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("charging_point", sa.Text, nullable=False),
    sa.Column("mt_r_share_bp", sa.Integer, nullable=False),
    sa.Column("mo_premium_share_bp", sa.Integer, nullable=False),
    _ts("created_at", now=True),
    sa.CheckConstraint("code ~ '^[A-Z][A-Z0-9_-]{1,31}$'", name="billing_plans_code_check"),
    sa.CheckConstraint(_CURRENCY_CHECK, name="billing_plans_currency_check"),
    sa.CheckConstraint("charging_point IN ('submission', 'delivery')", name="billing_plans_charging_point_check"),
    sa.CheckConstraint("mt_r_share_bp BETWEEN 0 AND 10000", name="billing_plans_mt_r_share_check"),
    sa.CheckConstraint("mo_premium_share_bp BETWEEN 0 AND 10000", name="billing_plans_mo_premium_share_check"),
)

# Graduated volume tiers: unit n of the month (0-based, counted per provider and event type) costs the price of
# the tier with the greatest from_units <= n. Every rated event type has a tier from 0.
billing_plan_rates = sa.Table(
    "billing_plan_rates",
    metadata,
    sa.Column("plan_id", sa.BigInteger, sa.ForeignKey("billing_plans.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("event_type", sa.Text, primary_key=True),
    sa.Column("from_units", sa.BigInteger, primary_key=True),
    sa.Column("unit_price_minor", sa.BigInteger, nullable=False),
    sa.CheckConstraint(_EVENT_CHECK, name="billing_plan_rates_event_check"),
    sa.CheckConstraint("from_units >= 0", name="billing_plan_rates_from_check"),
    sa.CheckConstraint("unit_price_minor >= 0", name="billing_plan_rates_price_check"),
)

# Free units per month and event type, consumed before any tier price applies.
billing_plan_allowances = sa.Table(
    "billing_plan_allowances",
    metadata,
    sa.Column("plan_id", sa.BigInteger, sa.ForeignKey("billing_plans.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("event_type", sa.Text, primary_key=True),
    sa.Column("free_units", sa.BigInteger, nullable=False),
    sa.CheckConstraint(_EVENT_CHECK, name="billing_plan_allowances_event_check"),
    sa.CheckConstraint("free_units > 0", name="billing_plan_allowances_free_check"),
)

# A provider's contract: one plan, prepaid or postpaid, over [valid_from, valid_to). No overlap per provider
# (checked under a row lock on the provider when a contract is added).
billing_contracts = sa.Table(
    "billing_contracts",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id"), nullable=False, index=True),
    sa.Column("plan_id", sa.BigInteger, sa.ForeignKey("billing_plans.id"), nullable=False),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_to", sa.Date, nullable=True),
    _ts("created_at", now=True),
    sa.CheckConstraint("account IN ('prepaid', 'postpaid')", name="billing_contracts_account_check"),
    sa.CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="billing_contracts_validity_check"),
)

# Prepaid balance: available = credits - reserved; both CHECKed so no interleaving can take it below zero.
billing_balances = sa.Table(
    "billing_balances",
    metadata,
    sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id"), primary_key=True),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("credits_minor", sa.BigInteger, nullable=False),
    sa.Column("reserved_minor", sa.BigInteger, nullable=False),
    _ts("expires_at", nullable=True),
    _ts("updated_at", now=True),
    sa.CheckConstraint(_CURRENCY_CHECK, name="billing_balances_currency_check"),
    sa.CheckConstraint("credits_minor >= 0", name="billing_balances_credits_check"),
    sa.CheckConstraint("reserved_minor >= 0", name="billing_balances_reserved_check"),
    sa.CheckConstraint("reserved_minor <= credits_minor", name="billing_balances_available_check"),
)

billing_reservations = sa.Table(
    "billing_reservations",
    metadata,
    sa.Column("idempotency_key", sa.Text, primary_key=True),
    sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id"), nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    _ts("created_at", now=True),
    _ts("settled_at", nullable=True),
    sa.CheckConstraint(_EVENT_CHECK, name="billing_reservations_event_check"),
    sa.CheckConstraint("amount_minor >= 0", name="billing_reservations_amount_check"),
    sa.CheckConstraint("status IN ('held', 'committed', 'released')", name="billing_reservations_status_check"),
)

# Append-only prepaid ledger: every top-up, debit and expiry, with the balance after it.
billing_ledger = sa.Table(
    "billing_ledger",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id"), nullable=False, index=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("balance_after_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=True, unique=True),
    sa.Column("cdr_id", sa.BigInteger, nullable=True),
    _ts("occurred_at", now=True),
    sa.CheckConstraint("kind IN ('topup', 'debit', 'expire')", name="billing_ledger_kind_check"),
    sa.CheckConstraint("(kind = 'topup') = (amount_minor > 0)", name="billing_ledger_sign_check"),
    sa.CheckConstraint("balance_after_minor >= 0", name="billing_ledger_balance_check"),
)

# One CDR per billable unit (a location, an SMS segment, an MO). Append-only.
billing_cdrs = sa.Table(
    "billing_cdrs",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
    sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id"), nullable=False),
    sa.Column("application_id", sa.BigInteger, nullable=True),
    sa.Column("contract_id", sa.BigInteger, sa.ForeignKey("billing_contracts.id"), nullable=True),
    sa.Column("plan_code", sa.Text, nullable=False),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("short_code", sa.Text, nullable=True),
    sa.Column("msisdn", sa.Text, nullable=True),
    sa.Column("message_key", sa.Text, nullable=True),
    sa.Column("segment", sa.Integer, nullable=True),
    sa.Column("charging_point", sa.Text, nullable=False),
    sa.Column("payer", sa.Text, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("share_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("period", sa.Date, nullable=False),
    _ts("occurred_at"),
    _ts("rated_at", now=True),
    sa.Index("billing_cdrs_provider_period_idx", "provider_id", "period"),
    sa.CheckConstraint(_EVENT_CHECK, name="billing_cdrs_event_check"),
    sa.CheckConstraint(_CURRENCY_CHECK, name="billing_cdrs_currency_check"),
    sa.CheckConstraint("account IN ('prepaid', 'postpaid')", name="billing_cdrs_account_check"),
    sa.CheckConstraint("charging_point IN ('submission', 'delivery')", name="billing_cdrs_charging_point_check"),
    sa.CheckConstraint("payer IN ('provider', 'subscriber')", name="billing_cdrs_payer_check"),
    sa.CheckConstraint("amount_minor >= 0", name="billing_cdrs_amount_check"),
    sa.CheckConstraint("share_minor >= 0 AND share_minor <= amount_minor", name="billing_cdrs_share_check"),
    sa.CheckConstraint("payer = 'subscriber' OR share_minor = 0", name="billing_cdrs_share_payer_check"),
    sa.CheckConstraint(_FIRST_OF_MONTH, name="billing_cdrs_period_check"),
)

# MT segments rated at submission under a delivery charging point, waiting for their receipt.
billing_pending_mt = sa.Table(
    "billing_pending_mt",
    metadata,
    sa.Column("idempotency_key", sa.Text, primary_key=True),
    sa.Column("message_key", sa.Text, nullable=False, index=True),
    sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id"), nullable=False),
    sa.Column("rated", JSONB, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    _ts("created_at", now=True),
    _ts("settled_at", nullable=True),
    sa.CheckConstraint("status IN ('pending', 'billed', 'failed')", name="billing_pending_mt_status_check"),
)

# Month-to-date units per provider and event type: the position used by volume tiers and free allowances.
billing_counters = sa.Table(
    "billing_counters",
    metadata,
    sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id"), primary_key=True),
    sa.Column("period", sa.Date, primary_key=True),
    sa.Column("event_type", sa.Text, primary_key=True),
    sa.Column("units", sa.BigInteger, nullable=False),
    sa.CheckConstraint("units >= 0", name="billing_counters_units_check"),
    sa.CheckConstraint(_EVENT_CHECK, name="billing_counters_event_check"),
)

# Operator-added charges: one-off set-up fees, the OADC option, other monthly options.
billing_fees = sa.Table(
    "billing_fees",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id"), nullable=False, index=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("short_code", sa.Text, nullable=True),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("recurring", sa.Boolean, nullable=False),
    sa.Column("starts_on", sa.Date, nullable=False),
    sa.Column("ends_on", sa.Date, nullable=True),
    _ts("created_at", now=True),
    sa.CheckConstraint("kind IN ('setup', 'oadc', 'other')", name="billing_fees_kind_check"),
    sa.CheckConstraint("amount_minor > 0", name="billing_fees_amount_check"),
    sa.CheckConstraint(_CURRENCY_CHECK, name="billing_fees_currency_check"),
    sa.CheckConstraint("extract(day from starts_on) = 1", name="billing_fees_starts_check"),
    sa.CheckConstraint("ends_on IS NULL OR ends_on > starts_on", name="billing_fees_ends_check"),
)

# A closed month: its row exists exactly once (primary key), so closing twice is refused. Append-only.
billing_months = sa.Table(
    "billing_months",
    metadata,
    sa.Column("period", sa.Date, primary_key=True),
    _ts("closed_at", now=True),
    sa.Column("closed_by", sa.Text, nullable=False),
    sa.CheckConstraint(_FIRST_OF_MONTH, name="billing_months_period_check"),
)

billing_statements = sa.Table(
    "billing_statements",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id"), nullable=False),
    sa.Column("period", sa.Date, sa.ForeignKey("billing_months.period"), nullable=False),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("usage_minor", sa.BigInteger, nullable=False),
    sa.Column("fees_minor", sa.BigInteger, nullable=False),
    sa.Column("share_minor", sa.BigInteger, nullable=False),
    sa.Column("total_minor", sa.BigInteger, nullable=False),
    sa.Column("prepaid_minor", sa.BigInteger, nullable=False),
    sa.Column("due_minor", sa.BigInteger, nullable=False),
    _ts("created_at", now=True),
    sa.UniqueConstraint("provider_id", "period", name="billing_statements_provider_period_key"),
    sa.CheckConstraint("account IN ('prepaid', 'postpaid')", name="billing_statements_account_check"),
    sa.CheckConstraint(_CURRENCY_CHECK, name="billing_statements_currency_check"),
    sa.CheckConstraint("total_minor = usage_minor + fees_minor - share_minor", name="billing_statements_total_check"),
    sa.CheckConstraint("due_minor = total_minor - prepaid_minor", name="billing_statements_due_check"),
)

billing_statement_lines = sa.Table(
    "billing_statement_lines",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("statement_id", sa.BigInteger, sa.ForeignKey("billing_statements.id"), nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("event_type", sa.Text, nullable=True),
    sa.Column("short_code", sa.Text, nullable=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.CheckConstraint("kind IN ('usage', 'fee', 'share')", name="billing_statement_lines_kind_check"),
    sa.CheckConstraint("quantity >= 0", name="billing_statement_lines_quantity_check"),
)

APPEND_ONLY = ("billing_cdrs", "billing_ledger", "billing_months", "billing_statements", "billing_statement_lines")
