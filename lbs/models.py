"""The schema as SQLAlchemy Core metadata, so ``alembic check`` can prove migrations and code agree.

Migrations (``migrations/versions``) are the one definition that creates it; this module mirrors them.
Runtime queries are plain parametrised SQL through asyncpg next to the code that uses them.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

ROLES = ("provider", "officer", "operator")
THROUGHPUT_TIERS = (10, 20, 50, 100, 150)

providers = sa.Table(
    "providers",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("prefix", sa.Text, nullable=False, unique=True),
    sa.Column("key_hash", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id", ondelete="CASCADE"), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    # CAMARA scopes (issue 18); NULL: every scope of the key's role (keys made before scopes keep working).
    sa.Column("scopes", sa.ARRAY(sa.Text), nullable=True),
    sa.CheckConstraint("role IN ('provider', 'officer', 'operator')", name="api_keys_role_check"),
    sa.CheckConstraint("role <> 'provider' OR provider_id IS NOT NULL", name="api_keys_provider_check"),
)

applications = sa.Table(
    "applications",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("name ~ '^[A-Z0-9]{2,20}$'", name="applications_name_check"),
)

subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("msisdn", sa.Text, primary_key=True),
    sa.Column("imsi", sa.Text, nullable=True, unique=True),
    sa.Column("language", sa.Text, nullable=False, server_default="en"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("location_paused_until", sa.DateTime(timezone=True), nullable=True),  # PAUSE 2H (revision 0002)
    sa.CheckConstraint("msisdn ~ '^\\+[1-9][0-9]{6,14}$'", name="subscribers_msisdn_check"),
    sa.CheckConstraint("language IN ('en', 'fr', 'nl')", name="subscribers_language_check"),
)

short_codes = sa.Table(
    "short_codes",
    metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id", ondelete="SET NULL"), nullable=True),
    sa.Column("system_id", sa.Text, nullable=False),
    sa.Column("throughput_tps", sa.Integer, nullable=False, server_default="10"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("code ~ '^[0-9]{3,6}$'", name="short_codes_code_check"),
    sa.CheckConstraint("throughput_tps IN (10, 20, 50, 100, 150)", name="short_codes_tps_check"),
)
