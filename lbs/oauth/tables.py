"""CAMARA authorisation requests (mirrors migration 0006_camara).

``oauth_requests``: one row per authorisation a client started for one subscriber: the scopes asked, the hash of
the one-time code sent by SMS, then the hash of the authorisation code once the subscriber confirmed. Its
``public_id`` is the ``sub`` of the access tokens issued from it; revoking the row stops them.
"""

from __future__ import annotations

import sqlalchemy as sa

from lbs.models import metadata

STATUSES = ("pending", "confirmed", "exchanged", "failed", "revoked")

oauth_requests = sa.Table(
    "oauth_requests",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("public_id", sa.Text, nullable=False, unique=True),
    sa.Column("provider_id", sa.BigInteger, sa.ForeignKey("providers.id", ondelete="CASCADE"), nullable=False),
    sa.Column("application_id", sa.BigInteger, sa.ForeignKey("applications.id", ondelete="CASCADE"), nullable=False),
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
