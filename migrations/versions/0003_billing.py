"""Billing: price plans, contracts, prepaid balances and ledger, CDRs, pending MTs, fees, closed months, statements.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

Generated with ``alembic revision --autogenerate`` against ``lbs/billing/tables.py``, then given the append-only
triggers (the ``lbs_append_only`` function comes from revision 0002).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The billable event types (lbs/billing/tables.py EVENT_TYPES at the time of this revision).
EVENT_CHECK = (
    "event_type IN ('location_active', 'location_passive', 'location_rest', 'mt', 'mt_r', 'mo', 'mo_r', 'mo_premium')"
)
APPEND_ONLY = ("billing_cdrs", "billing_ledger", "billing_months", "billing_statements", "billing_statement_lines")


def upgrade() -> None:
    op.create_table(
        "billing_months",
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("closed_by", sa.Text(), nullable=False),
        sa.CheckConstraint("extract(day from period) = 1", name="billing_months_period_check"),
        sa.PrimaryKeyConstraint("period"),
    )
    op.create_table(
        "billing_plans",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("charging_point", sa.Text(), nullable=False),
        sa.Column("mt_r_share_bp", sa.Integer(), nullable=False),
        sa.Column("mo_premium_share_bp", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("charging_point IN ('submission', 'delivery')", name="billing_plans_charging_point_check"),
        sa.CheckConstraint("code ~ '^[A-Z][A-Z0-9_-]{1,31}$'", name="billing_plans_code_check"),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="billing_plans_currency_check"),
        sa.CheckConstraint("mo_premium_share_bp BETWEEN 0 AND 10000", name="billing_plans_mo_premium_share_check"),
        sa.CheckConstraint("mt_r_share_bp BETWEEN 0 AND 10000", name="billing_plans_mt_r_share_check"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "billing_balances",
        sa.Column("provider_id", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("credits_minor", sa.BigInteger(), nullable=False),
        sa.Column("reserved_minor", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="billing_balances_currency_check"),
        sa.CheckConstraint("credits_minor >= 0", name="billing_balances_credits_check"),
        sa.CheckConstraint("reserved_minor <= credits_minor", name="billing_balances_available_check"),
        sa.CheckConstraint("reserved_minor >= 0", name="billing_balances_reserved_check"),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
        ),
        sa.PrimaryKeyConstraint("provider_id"),
    )
    op.create_table(
        "billing_contracts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("provider_id", sa.BigInteger(), nullable=False),
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("account IN ('prepaid', 'postpaid')", name="billing_contracts_account_check"),
        sa.CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="billing_contracts_validity_check"),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["billing_plans.id"],
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_billing_contracts_provider_id"), "billing_contracts", ["provider_id"], unique=False)
    op.create_table(
        "billing_counters",
        sa.Column("provider_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            EVENT_CHECK,
            name="billing_counters_event_check",
        ),
        sa.CheckConstraint("units >= 0", name="billing_counters_units_check"),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
        ),
        sa.PrimaryKeyConstraint("provider_id", "period", "event_type"),
    )
    op.create_table(
        "billing_fees",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("provider_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("short_code", sa.Text(), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("recurring", sa.Boolean(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="billing_fees_currency_check"),
        sa.CheckConstraint("kind IN ('setup', 'oadc', 'other')", name="billing_fees_kind_check"),
        sa.CheckConstraint("amount_minor > 0", name="billing_fees_amount_check"),
        sa.CheckConstraint("ends_on IS NULL OR ends_on > starts_on", name="billing_fees_ends_check"),
        sa.CheckConstraint("extract(day from starts_on) = 1", name="billing_fees_starts_check"),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_billing_fees_provider_id"), "billing_fees", ["provider_id"], unique=False)
    op.create_table(
        "billing_ledger",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("provider_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("balance_after_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("cdr_id", sa.BigInteger(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("(kind = 'topup') = (amount_minor > 0)", name="billing_ledger_sign_check"),
        sa.CheckConstraint("kind IN ('topup', 'debit', 'expire')", name="billing_ledger_kind_check"),
        sa.CheckConstraint("balance_after_minor >= 0", name="billing_ledger_balance_check"),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index(op.f("ix_billing_ledger_provider_id"), "billing_ledger", ["provider_id"], unique=False)
    op.create_table(
        "billing_pending_mt",
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("message_key", sa.Text(), nullable=False),
        sa.Column("provider_id", sa.BigInteger(), nullable=False),
        sa.Column("rated", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'billed', 'failed')", name="billing_pending_mt_status_check"),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
        ),
        sa.PrimaryKeyConstraint("idempotency_key"),
    )
    op.create_index(op.f("ix_billing_pending_mt_message_key"), "billing_pending_mt", ["message_key"], unique=False)
    op.create_table(
        "billing_plan_allowances",
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("free_units", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            EVENT_CHECK,
            name="billing_plan_allowances_event_check",
        ),
        sa.CheckConstraint("free_units > 0", name="billing_plan_allowances_free_check"),
        sa.ForeignKeyConstraint(["plan_id"], ["billing_plans.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("plan_id", "event_type"),
    )
    op.create_table(
        "billing_plan_rates",
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("from_units", sa.BigInteger(), nullable=False),
        sa.Column("unit_price_minor", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            EVENT_CHECK,
            name="billing_plan_rates_event_check",
        ),
        sa.CheckConstraint("from_units >= 0", name="billing_plan_rates_from_check"),
        sa.CheckConstraint("unit_price_minor >= 0", name="billing_plan_rates_price_check"),
        sa.ForeignKeyConstraint(["plan_id"], ["billing_plans.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("plan_id", "event_type", "from_units"),
    )
    op.create_table(
        "billing_reservations",
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("provider_id", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            EVENT_CHECK,
            name="billing_reservations_event_check",
        ),
        sa.CheckConstraint("status IN ('held', 'committed', 'released')", name="billing_reservations_status_check"),
        sa.CheckConstraint("amount_minor >= 0", name="billing_reservations_amount_check"),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
        ),
        sa.PrimaryKeyConstraint("idempotency_key"),
    )
    op.create_table(
        "billing_statements",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("provider_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("usage_minor", sa.BigInteger(), nullable=False),
        sa.Column("fees_minor", sa.BigInteger(), nullable=False),
        sa.Column("share_minor", sa.BigInteger(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("prepaid_minor", sa.BigInteger(), nullable=False),
        sa.Column("due_minor", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("account IN ('prepaid', 'postpaid')", name="billing_statements_account_check"),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="billing_statements_currency_check"),
        sa.CheckConstraint("due_minor = total_minor - prepaid_minor", name="billing_statements_due_check"),
        sa.CheckConstraint(
            "total_minor = usage_minor + fees_minor - share_minor", name="billing_statements_total_check"
        ),
        sa.ForeignKeyConstraint(
            ["period"],
            ["billing_months.period"],
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider_id", "period", name="billing_statements_provider_period_key"),
    )
    op.create_table(
        "billing_cdrs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("provider_id", sa.BigInteger(), nullable=False),
        sa.Column("application_id", sa.BigInteger(), nullable=True),
        sa.Column("contract_id", sa.BigInteger(), nullable=True),
        sa.Column("plan_code", sa.Text(), nullable=False),
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("short_code", sa.Text(), nullable=True),
        sa.Column("msisdn", sa.Text(), nullable=True),
        sa.Column("message_key", sa.Text(), nullable=True),
        sa.Column("segment", sa.Integer(), nullable=True),
        sa.Column("charging_point", sa.Text(), nullable=False),
        sa.Column("payer", sa.Text(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("share_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("account IN ('prepaid', 'postpaid')", name="billing_cdrs_account_check"),
        sa.CheckConstraint("charging_point IN ('submission', 'delivery')", name="billing_cdrs_charging_point_check"),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="billing_cdrs_currency_check"),
        sa.CheckConstraint(
            EVENT_CHECK,
            name="billing_cdrs_event_check",
        ),
        sa.CheckConstraint("payer = 'subscriber' OR share_minor = 0", name="billing_cdrs_share_payer_check"),
        sa.CheckConstraint("payer IN ('provider', 'subscriber')", name="billing_cdrs_payer_check"),
        sa.CheckConstraint("amount_minor >= 0", name="billing_cdrs_amount_check"),
        sa.CheckConstraint("extract(day from period) = 1", name="billing_cdrs_period_check"),
        sa.CheckConstraint("share_minor >= 0 AND share_minor <= amount_minor", name="billing_cdrs_share_check"),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["billing_contracts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("billing_cdrs_provider_period_idx", "billing_cdrs", ["provider_id", "period"], unique=False)
    op.create_table(
        "billing_statement_lines",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("statement_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=True),
        sa.Column("short_code", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.CheckConstraint("kind IN ('usage', 'fee', 'share')", name="billing_statement_lines_kind_check"),
        sa.CheckConstraint("quantity >= 0", name="billing_statement_lines_quantity_check"),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["billing_statements.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_billing_statement_lines_statement_id"), "billing_statement_lines", ["statement_id"], unique=False
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION lbs_append_only()"
        )


def downgrade() -> None:
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.drop_index(op.f("ix_billing_statement_lines_statement_id"), table_name="billing_statement_lines")
    op.drop_table("billing_statement_lines")
    op.drop_index("billing_cdrs_provider_period_idx", table_name="billing_cdrs")
    op.drop_table("billing_cdrs")
    op.drop_table("billing_statements")
    op.drop_table("billing_reservations")
    op.drop_table("billing_plan_rates")
    op.drop_table("billing_plan_allowances")
    op.drop_index(op.f("ix_billing_pending_mt_message_key"), table_name="billing_pending_mt")
    op.drop_table("billing_pending_mt")
    op.drop_index(op.f("ix_billing_ledger_provider_id"), table_name="billing_ledger")
    op.drop_table("billing_ledger")
    op.drop_index(op.f("ix_billing_fees_provider_id"), table_name="billing_fees")
    op.drop_table("billing_fees")
    op.drop_table("billing_counters")
    op.drop_index(op.f("ix_billing_contracts_provider_id"), table_name="billing_contracts")
    op.drop_table("billing_contracts")
    op.drop_table("billing_balances")
    op.drop_table("billing_plans")
    op.drop_table("billing_months")
