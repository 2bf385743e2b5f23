"""Géo Présence: promotions, promotion_triggers, promotion_counters; CAMARA geofencing subscriptions and deliveries.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False, **kw: object) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, **kw)


def upgrade() -> None:
    op.create_table(
        "promotions",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "application_id", sa.BigInteger, sa.ForeignKey("applications.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("brand", sa.Text, nullable=False),
        sa.Column("shop", sa.Text, nullable=False, server_default=""),
        sa.Column("fence", JSONB, nullable=False),
        sa.Column("trigger", sa.Text, nullable=False),
        sa.Column("dwell_s", sa.Integer, nullable=True),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("coupon", sa.Text, nullable=True),
        sa.Column("source", sa.Text, nullable=False),
        _ts("valid_from"),
        _ts("valid_until"),
        sa.Column("days", sa.Text, nullable=False, server_default="1234567"),
        sa.Column("hours_from", sa.Time, nullable=False, server_default=sa.text("'00:00'")),
        sa.Column("hours_until", sa.Time, nullable=False, server_default=sa.text("'23:59:59'")),
        sa.Column("timezone", sa.Text, nullable=False, server_default="Europe/Brussels"),
        sa.Column("cap_count", sa.Integer, nullable=False, server_default="1"),
        sa.Column("cap_period", sa.Text, nullable=False, server_default="promotion"),
        sa.Column("budget_messages", sa.Integer, nullable=True),
        sa.Column("budget_minor", sa.BigInteger, nullable=True),
        sa.Column("status", sa.Text, nullable=False, server_default="active"),
        _ts("created_at", server_default=sa.func.now()),
        _ts("updated_at", server_default=sa.func.now()),
        sa.CheckConstraint("trigger IN ('enter', 'exit', 'dwell')", name="promotions_trigger_check"),
        sa.CheckConstraint("trigger <> 'dwell' OR dwell_s > 0", name="promotions_dwell_check"),
        sa.CheckConstraint("status IN ('active', 'paused', 'deleted')", name="promotions_status_check"),
        sa.CheckConstraint("cap_period IN ('promotion', 'day')", name="promotions_cap_period_check"),
        sa.CheckConstraint("cap_count > 0", name="promotions_cap_count_check"),
        sa.CheckConstraint("valid_until > valid_from", name="promotions_validity_check"),
        sa.CheckConstraint("days ~ '^[1-7]{1,7}$'", name="promotions_days_check"),
        sa.CheckConstraint(
            "budget_messages IS NULL OR budget_messages >= 0", name="promotions_budget_messages_check"
        ),
        sa.CheckConstraint("budget_minor IS NULL OR budget_minor >= 0", name="promotions_budget_minor_check"),
    )
    op.create_index("ix_promotions_updated_at", "promotions", ["updated_at"])
    op.create_table(
        "promotion_triggers",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "promotion_id", sa.BigInteger, sa.ForeignKey("promotions.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("transition", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("mt_id", sa.BigInteger, nullable=True),
        sa.Column("cost_minor", sa.BigInteger, nullable=False, server_default="0"),
        _ts("occurred_at"),
    )
    op.create_index(
        "promotion_triggers_subject_idx", "promotion_triggers", ["promotion_id", "subject", "occurred_at"]
    )
    op.create_table(
        "promotion_counters",
        sa.Column(
            "promotion_id", sa.BigInteger, sa.ForeignKey("promotions.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("counter", sa.Text, primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False, server_default="0"),
    )

    op.create_table(
        "geofencing_subscriptions",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("public_id", sa.Text, nullable=False, unique=True),
        sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "application_id", sa.BigInteger, sa.ForeignKey("applications.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("msisdn", sa.Text, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("radius_m", sa.Float, nullable=False),
        sa.Column("types", JSONB, nullable=False),
        sa.Column("sink", sa.Text, nullable=False),
        sa.Column("credential", JSONB, nullable=True),
        sa.Column("initial_event", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("max_events", sa.Integer, nullable=True),
        sa.Column("events_sent", sa.Integer, nullable=False, server_default="0"),
        _ts("expires_at", nullable=True),
        sa.Column("status", sa.Text, nullable=False, server_default="ACTIVE"),
        _ts("created_at", server_default=sa.func.now()),
        _ts("updated_at", server_default=sa.func.now()),
        sa.CheckConstraint(
            "status IN ('ACTIVE', 'EXPIRED', 'DELETED')", name="geofencing_subscriptions_status_check"
        ),
        sa.CheckConstraint("radius_m > 0", name="geofencing_subscriptions_radius_check"),
    )
    op.create_index("ix_geofencing_subscriptions_updated_at", "geofencing_subscriptions", ["updated_at"])
    op.create_table(
        "geofencing_deliveries",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "subscription_id",
            sa.BigInteger,
            sa.ForeignKey("geofencing_subscriptions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_id", sa.Text, nullable=False, unique=True),
        sa.Column("body", JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        _ts("next_attempt_at", server_default=sa.func.now()),
        sa.Column("last_error", sa.Text, nullable=True),
        _ts("created_at", server_default=sa.func.now()),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="geofencing_deliveries_status_check"),
    )
    op.create_index(
        "geofencing_deliveries_due_idx",
        "geofencing_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("geofencing_deliveries_due_idx", table_name="geofencing_deliveries")
    op.drop_table("geofencing_deliveries")
    op.drop_index("ix_geofencing_subscriptions_updated_at", table_name="geofencing_subscriptions")
    op.drop_table("geofencing_subscriptions")
    op.drop_table("promotion_counters")
    op.drop_table("promotion_triggers")
    op.drop_index("ix_promotions_updated_at", table_name="promotions")
    op.drop_table("promotions")
