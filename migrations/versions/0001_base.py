"""Base schema: PostGIS, providers, API keys, applications, subscribers, short codes.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _created_at() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "providers",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        _created_at(),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("prefix", sa.Text, nullable=False, unique=True),
        sa.Column("key_hash", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id", ondelete="CASCADE"), nullable=True),
        _created_at(),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('provider', 'officer', 'operator')", name="api_keys_role_check"),
        sa.CheckConstraint("role <> 'provider' OR provider_id IS NOT NULL", name="api_keys_provider_check"),
    )
    op.create_table(
        "applications",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        _created_at(),
        sa.CheckConstraint("name ~ '^[A-Z0-9]{2,20}$'", name="applications_name_check"),
    )
    op.create_table(
        "subscribers",
        sa.Column("msisdn", sa.Text, primary_key=True),
        sa.Column("imsi", sa.Text, nullable=True, unique=True),
        sa.Column("language", sa.Text, nullable=False, server_default="en"),
        _created_at(),
        sa.CheckConstraint("msisdn ~ '^\\+[1-9][0-9]{6,14}$'", name="subscribers_msisdn_check"),
        sa.CheckConstraint("language IN ('en', 'fr', 'nl')", name="subscribers_language_check"),
    )
    op.create_table(
        "short_codes",
        sa.Column("code", sa.Text, primary_key=True),
        sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id", ondelete="SET NULL"), nullable=True),
        sa.Column("system_id", sa.Text, nullable=False),
        sa.Column("throughput_tps", sa.Integer, nullable=False, server_default="10"),
        _created_at(),
        sa.CheckConstraint("code ~ '^[0-9]{3,6}$'", name="short_codes_code_check"),
        sa.CheckConstraint("throughput_tps IN (10, 20, 50, 100, 150)", name="short_codes_tps_check"),
    )


def downgrade() -> None:
    for table in ("short_codes", "subscribers", "applications", "api_keys", "providers"):
        op.drop_table(table)
    # The postgis extension stays: other databases' objects or later revisions may depend on it.
