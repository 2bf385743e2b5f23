"""Consent grants (projection), consent events and the audit log (append-only), retention policies;
messaging: the MT outbox, received MOs, the opt-out list and the marketing day counter.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

APPEND_ONLY = ("consent_events", "audit_log")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column("subscribers", _ts("location_paused_until", nullable=True))
    op.create_table(
        "consent_grants",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("msisdn", sa.Text, sa.ForeignKey("subscribers.msisdn", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "application_id", sa.BigInteger, sa.ForeignKey("applications.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("precision", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("proof", JSONB, nullable=False),
        _ts("granted_at"),
        _ts("expires_at"),
        _ts("paused_until", nullable=True),
        _ts("revoked_at", nullable=True),
        _ts("updated_at"),
        sa.UniqueConstraint("msisdn", "application_id", "purpose", name="consent_grants_subject_app_purpose_key"),
        sa.CheckConstraint(
            "purpose IN ('active_lookup', 'geofencing', 'marketing')", name="consent_grants_purpose_check"
        ),
        sa.CheckConstraint("precision IN ('exact', 'coarse')", name="consent_grants_precision_check"),
        sa.CheckConstraint("source IN ('sms', 'api', 'officer')", name="consent_grants_source_check"),
        sa.CheckConstraint("expires_at > granted_at", name="consent_grants_expiry_check"),
    )
    op.create_table(
        "consent_events",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("subject", sa.Text, nullable=False, index=True),
        sa.Column("grant_id", sa.BigInteger, nullable=True),
        sa.Column("application_id", sa.BigInteger, nullable=True),
        sa.Column("purpose", sa.Text, nullable=True),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("precision", sa.Text, nullable=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("proof", JSONB, nullable=False),
        _ts("expires_at", nullable=True),
        _ts("paused_until", nullable=True),
        _ts("occurred_at"),
        sa.CheckConstraint(
            "action IN ('request', 'grant', 'pause', 'resume', 'revoke', 'expire', 'erase')",
            name="consent_events_action_check",
        ),
    )
    op.create_table(
        "audit_log",
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
        _ts("occurred_at"),
        sa.Column("prev_hash", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.UniqueConstraint("subject", "seq", name="audit_log_subject_seq_key"),
        sa.CheckConstraint(
            "kind IN ('disclosure', 'refusal', 'consent', 'access', 'erasure', 'retention')",
            name="audit_log_kind_check",
        ),
    )
    op.create_table(
        "retention_policies",
        sa.Column("data_class", sa.Text, primary_key=True),
        sa.Column("retention_s", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("data_class IN ('positions', 'presence', 'message_bodies')", name="retention_class_check"),
        sa.CheckConstraint("retention_s > 0", name="retention_positive_check"),
    )
    _messaging_upgrade()
    op.execute(
        """
        CREATE FUNCTION lbs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          -- Erasure may replace an MSISDN by its pseudonym (SET LOCAL lbs.pseudonymise = 'on'); nothing else.
          IF TG_OP = 'UPDATE' AND current_setting('lbs.pseudonymise', true) = 'on' THEN
            RETURN NEW;
          END IF;
          RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION lbs_append_only()"
        )


def _messaging_upgrade() -> None:
    op.create_table(
        "mt_messages",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("msisdn", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=True),
        sa.Column("encoding", sa.Text, nullable=False),
        sa.Column("segments", sa.Integer, nullable=False),
        sa.Column("message_class", sa.Text, nullable=False),
        sa.Column("brand", sa.Text, nullable=True),
        sa.Column("application_id", sa.BigInteger, nullable=True),
        sa.Column("flash", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("status", sa.Text, nullable=False, server_default="queued"),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("smsc_message_id", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("idempotency_key", sa.Text, nullable=True, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        _ts("submitted_at", nullable=True),
        _ts("done_at", nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'deferred', 'sending', 'submitted', 'delivered', 'failed', 'expired')",
            name="mt_messages_status_check",
        ),
        sa.CheckConstraint("message_class IN ('transactional', 'marketing')", name="mt_messages_class_check"),
        sa.CheckConstraint("encoding IN ('gsm0338', 'ucs2')", name="mt_messages_encoding_check"),
        sa.CheckConstraint("segments > 0", name="mt_messages_segments_check"),
    )
    op.create_index("ix_mt_messages_smsc_message_id", "mt_messages", ["smsc_message_id"])
    op.create_index(
        "mt_messages_due_idx",
        "mt_messages",
        ["not_before"],
        postgresql_where=sa.text("status IN ('queued', 'deferred')"),
    )
    op.create_table(
        "mo_messages",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("msisdn", sa.Text, nullable=False),
        sa.Column("destination", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=True),
        sa.Column("keyword", sa.Text, nullable=True),
        sa.Column("status", sa.Text, nullable=False, server_default="received"),
        _ts("received_at"),
        _ts("handled_at", nullable=True),
        sa.CheckConstraint("status IN ('received', 'handled', 'failed')", name="mo_messages_status_check"),
    )
    op.create_index("mo_messages_pending_idx", "mo_messages", ["id"], postgresql_where=sa.text("status = 'received'"))
    op.create_table(
        "mt_receipts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("smsc_message_id", sa.Text, nullable=False),
        sa.Column("stat", sa.Text, nullable=False),
        _ts("received_at"),
        _ts("applied_at", nullable=True),
    )
    op.create_index(
        "mt_receipts_pending_idx", "mt_receipts", ["smsc_message_id"], postgresql_where=sa.text("applied_at IS NULL")
    )
    op.create_table(
        "opt_outs",
        sa.Column("subject", sa.Text, primary_key=True),
        sa.Column("brand", sa.Text, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "marketing_sends",
        sa.Column("subject", sa.Text, primary_key=True),
        sa.Column("brand", sa.Text, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("mt_id", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    for table in ("marketing_sends", "opt_outs", "mt_receipts", "mo_messages", "mt_messages"):
        op.drop_table(table)
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.execute("DROP FUNCTION IF EXISTS lbs_append_only()")
    for table in ("retention_policies", "audit_log", "consent_events", "consent_grants"):
        op.drop_table(table)
    op.drop_column("subscribers", "location_paused_until")
