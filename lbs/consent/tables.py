"""Consent and audit tables (mirrors migration 0002)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from lbs.models import metadata

PURPOSES = ("active_lookup", "geofencing", "marketing")
PRECISIONS = ("exact", "coarse")
SOURCES = ("sms", "api", "officer")
ACTIONS = ("request", "grant", "pause", "resume", "revoke", "expire", "erase")
AUDIT_KINDS = ("disclosure", "refusal", "consent", "access", "erasure", "retention")
DATA_CLASSES = ("positions", "presence", "message_bodies")

consent_grants = sa.Table(
    "consent_grants",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("msisdn", sa.Text, sa.ForeignKey("subscribers.msisdn", ondelete="CASCADE"), nullable=False),
    sa.Column("application_id", sa.BigInteger, sa.ForeignKey("applications.id", ondelete="CASCADE"), nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("precision", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("proof", JSONB, nullable=False),
    sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("msisdn", "application_id", "purpose", name="consent_grants_subject_app_purpose_key"),
    sa.CheckConstraint("purpose IN ('active_lookup', 'geofencing', 'marketing')", name="consent_grants_purpose_check"),
    sa.CheckConstraint("precision IN ('exact', 'coarse')", name="consent_grants_precision_check"),
    sa.CheckConstraint("source IN ('sms', 'api', 'officer')", name="consent_grants_source_check"),
    sa.CheckConstraint("expires_at > granted_at", name="consent_grants_expiry_check"),
)

# Append-only (a trigger refuses UPDATE and DELETE). ``subject`` is a keyed hash of the MSISDN, never the number.
consent_events = sa.Table(
    "consent_events",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("subject", sa.Text, nullable=False, index=True),
    sa.Column("grant_id", sa.BigInteger, nullable=True),
    sa.Column("application_id", sa.BigInteger, nullable=True),
    sa.Column("purpose", sa.Text, nullable=True),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("precision", sa.Text, nullable=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("proof", JSONB, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint(
        "action IN ('request', 'grant', 'pause', 'resume', 'revoke', 'expire', 'erase')",
        name="consent_events_action_check",
    ),
)

# Append-only, hash-chained per subject: hash = sha256(prev_hash || canonical JSON of the row).
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("application_id", sa.BigInteger, nullable=True),
    sa.Column("purpose", sa.Text, nullable=True),
    sa.Column("precision", sa.Text, nullable=True),
    sa.Column("grant_id", sa.BigInteger, nullable=True),
    sa.Column("request_id", sa.Text, nullable=True),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("details", JSONB, nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("prev_hash", sa.Text, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
    sa.UniqueConstraint("subject", "seq", name="audit_log_subject_seq_key"),
    sa.CheckConstraint(
        "kind IN ('disclosure', 'refusal', 'consent', 'access', 'erasure', 'retention')", name="audit_log_kind_check"
    ),
)

retention_policies = sa.Table(
    "retention_policies",
    metadata,
    sa.Column("data_class", sa.Text, primary_key=True),
    sa.Column("retention_s", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("data_class IN ('positions', 'presence', 'message_bodies')", name="retention_class_check"),
    sa.CheckConstraint("retention_s > 0", name="retention_positive_check"),
)
