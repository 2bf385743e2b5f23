"""CAMARA conformance (issue 18): API key scopes, device-token authorisation requests, subscriptions that know
whether the request named the device.

Revision ID: 0006_camara
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_camara"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("scopes", sa.ARRAY(sa.Text), nullable=True))
    op.add_column(
        "geofencing_subscriptions",
        sa.Column("device_in_request", sa.Boolean, nullable=False, server_default=sa.true()),
    )
    op.create_table(
        "oauth_requests",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("public_id", sa.Text, nullable=False, unique=True),
        sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "application_id", sa.BigInteger, sa.ForeignKey("applications.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("msisdn", sa.Text, nullable=False),
        sa.Column("scopes", sa.ARRAY(sa.Text), nullable=False),
        sa.Column("redirect_uri", sa.Text, nullable=True),
        sa.Column("otp_hash", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("code_hash", sa.Text, nullable=True, unique=True),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'exchanged', 'failed', 'revoked')", name="oauth_requests_status_check"
        ),
    )


def downgrade() -> None:
    op.drop_table("oauth_requests")
    op.drop_column("geofencing_subscriptions", "device_in_request")
    op.drop_column("api_keys", "scopes")
