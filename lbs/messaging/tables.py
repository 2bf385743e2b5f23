"""Messaging tables (revision 0002): the MT outbox, received MOs, the opt-out list, the marketing day counter."""

from __future__ import annotations

import sqlalchemy as sa

from lbs.models import metadata

MT_STATUSES = ("queued", "deferred", "sending", "submitted", "delivered", "failed", "expired")

mt_messages = sa.Table(
    "mt_messages",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("msisdn", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=True),  # emptied when its retention passes
    sa.Column("encoding", sa.Text, nullable=False),
    sa.Column("segments", sa.Integer, nullable=False),
    sa.Column("message_class", sa.Text, nullable=False),
    sa.Column("brand", sa.Text, nullable=True),
    sa.Column("application_id", sa.BigInteger, nullable=True),
    sa.Column("flash", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("status", sa.Text, nullable=False, server_default="queued"),
    sa.Column("not_before", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("smsc_message_id", sa.Text, nullable=True, index=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("idempotency_key", sa.Text, nullable=True, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint(
        "status IN ('queued', 'deferred', 'sending', 'submitted', 'delivered', 'failed', 'expired')",
        name="mt_messages_status_check",
    ),
    sa.CheckConstraint("message_class IN ('transactional', 'marketing')", name="mt_messages_class_check"),
    sa.CheckConstraint("encoding IN ('gsm0338', 'ucs2')", name="mt_messages_encoding_check"),
    sa.CheckConstraint("segments > 0", name="mt_messages_segments_check"),
    sa.Index(
        "mt_messages_due_idx",
        "not_before",
        postgresql_where=sa.text("status IN ('queued', 'deferred')"),
    ),
)

mo_messages = sa.Table(
    "mo_messages",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("msisdn", sa.Text, nullable=False),
    sa.Column("destination", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=True),  # emptied when its retention passes
    sa.Column("keyword", sa.Text, nullable=True),
    sa.Column("status", sa.Text, nullable=False, server_default="received"),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('received', 'handled', 'failed')", name="mo_messages_status_check"),
    sa.Index("mo_messages_pending_idx", "id", postgresql_where=sa.text("status = 'received'")),
)

# The STOP list: a keyed hash of the MSISDN (so an erased subscriber stays opted out), per brand or '*' (all).
opt_outs = sa.Table(
    "opt_outs",
    metadata,
    sa.Column("subject", sa.Text, primary_key=True),
    sa.Column("brand", sa.Text, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# One marketing SMS per subscriber, provider's brand and day: the primary key is the rule (provider 0: the platform).
marketing_sends = sa.Table(
    "marketing_sends",
    metadata,
    sa.Column("subject", sa.Text, primary_key=True),
    sa.Column("provider_id", sa.BigInteger, primary_key=True, server_default="0"),
    sa.Column("brand", sa.Text, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("mt_id", sa.BigInteger, nullable=True),
)

# Every delivery receipt, as received. It is applied to its MT when that MT's SMSC id is known: a receipt may reach
# another worker's bind, or arrive before the submit result was recorded.
mt_receipts = sa.Table(
    "mt_receipts",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("smsc_message_id", sa.Text, nullable=False),
    sa.Column("stat", sa.Text, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("mt_receipts_pending_idx", "smsc_message_id", postgresql_where=sa.text("applied_at IS NULL")),
)
