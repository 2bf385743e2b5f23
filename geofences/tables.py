"""Géo Présence tables (mirrors migration 0005): promotions, their triggers, their report counters.

- ``promotions``: what a provider registered (the fence as validated GeoJSON, the rules' parameters). Never deleted
  while triggers refer to it: DELETE through the API sets ``status = 'deleted'``, so reports stay readable and
  workers see the change (``updated_at``) and drop the fence from their index.
- ``promotion_triggers``: one row per transition that reached the rules, keyed by its idempotency key
  (subscriber x fence x transition x report time): a replayed stream entry inserts nothing, so nothing fires twice.
  The subscriber is stored as the consent pseudonym, never the MSISDN. Caps count these rows.
- ``promotion_counters``: positions evaluated, transitions, fired, suppressed:<reason>, sent, delivered, stops.
- ``geofencing_subscriptions``: CAMARA geofencing subscriptions (one device, one circle, a sink);
  ``geofencing_deliveries``: their CloudEvents, a durable outbox delivered with retries (``event_id`` unique).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from lbs.models import metadata

TRIGGERS = ("enter", "exit", "dwell")
STATUSES = ("active", "paused", "deleted")
CAP_PERIODS = ("promotion", "day")

promotions = sa.Table(
    "promotions",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id", ondelete="CASCADE"), nullable=False),
    sa.Column("application_id", sa.BigInteger, sa.ForeignKey("applications.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("brand", sa.Text, nullable=False),
    sa.Column("shop", sa.Text, nullable=False, server_default=""),
    sa.Column("fence", JSONB, nullable=False),
    sa.Column("trigger", sa.Text, nullable=False),
    sa.Column("dwell_s", sa.Integer, nullable=True),
    sa.Column("template", sa.Text, nullable=False),
    sa.Column("coupon", sa.Text, nullable=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
    sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
    sa.Column("days", sa.Text, nullable=False, server_default="1234567"),
    sa.Column("hours_from", sa.Time, nullable=False, server_default=sa.text("'00:00'")),
    sa.Column("hours_until", sa.Time, nullable=False, server_default=sa.text("'23:59:59'")),
    sa.Column("timezone", sa.Text, nullable=False, server_default="Europe/Brussels"),
    sa.Column("cap_count", sa.Integer, nullable=False, server_default="1"),
    sa.Column("cap_period", sa.Text, nullable=False, server_default="promotion"),
    sa.Column("budget_messages", sa.Integer, nullable=True),
    sa.Column("budget_minor", sa.BigInteger, nullable=True),
    sa.Column("status", sa.Text, nullable=False, server_default="active"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now(), index=True),
    sa.CheckConstraint("trigger IN ('enter', 'exit', 'dwell')", name="promotions_trigger_check"),
    sa.CheckConstraint("trigger <> 'dwell' OR dwell_s > 0", name="promotions_dwell_check"),
    sa.CheckConstraint("status IN ('active', 'paused', 'deleted')", name="promotions_status_check"),
    sa.CheckConstraint("cap_period IN ('promotion', 'day')", name="promotions_cap_period_check"),
    sa.CheckConstraint("cap_count > 0", name="promotions_cap_count_check"),
    sa.CheckConstraint("valid_until > valid_from", name="promotions_validity_check"),
    sa.CheckConstraint("days ~ '^[1-7]{1,7}$'", name="promotions_days_check"),
    sa.CheckConstraint("budget_messages IS NULL OR budget_messages >= 0", name="promotions_budget_messages_check"),
    sa.CheckConstraint("budget_minor IS NULL OR budget_minor >= 0", name="promotions_budget_minor_check"),
)

promotion_triggers = sa.Table(
    "promotion_triggers",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("promotion_id", sa.BigInteger, sa.ForeignKey("promotions.id", ondelete="CASCADE"), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("transition", sa.Text, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("mt_id", sa.BigInteger, nullable=True),
    sa.Column("cost_minor", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("promotion_triggers_subject_idx", "promotion_id", "subject", "occurred_at"),
)

promotion_counters = sa.Table(
    "promotion_counters",
    metadata,
    sa.Column("promotion_id", sa.BigInteger, sa.ForeignKey("promotions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("counter", sa.Text, primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False, server_default="0"),
)

geofencing_subscriptions = sa.Table(
    "geofencing_subscriptions",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("public_id", sa.Text, nullable=False, unique=True),
    sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id", ondelete="CASCADE"), nullable=False),
    sa.Column("application_id", sa.BigInteger, sa.ForeignKey("applications.id", ondelete="CASCADE"), nullable=False),
    sa.Column("msisdn", sa.Text, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("radius_m", sa.Float, nullable=False),
    sa.Column("types", JSONB, nullable=False),
    sa.Column("sink", sa.Text, nullable=False),
    sa.Column("credential", JSONB, nullable=True),
    sa.Column("initial_event", sa.Boolean, nullable=False, server_default=sa.false()),
    # False when a device token named the device: CAMARA then leaves the device out of responses and events.
    sa.Column("device_in_request", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("max_events", sa.Integer, nullable=True),
    sa.Column("events_sent", sa.Integer, nullable=False, server_default="0"),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("status", sa.Text, nullable=False, server_default="ACTIVE"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now(), index=True),
    sa.CheckConstraint("status IN ('ACTIVE', 'EXPIRED', 'DELETED')", name="geofencing_subscriptions_status_check"),
    sa.CheckConstraint("radius_m > 0", name="geofencing_subscriptions_radius_check"),
)

geofencing_deliveries = sa.Table(
    "geofencing_deliveries",
    metadata,
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
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="geofencing_deliveries_status_check"),
    sa.Index("geofencing_deliveries_due_idx", "next_attempt_at", postgresql_where=sa.text("status = 'pending'")),
)
