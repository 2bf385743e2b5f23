"""Brands per provider: the one-marketing-SMS-per-brand-per-day key includes the provider.

Before, ``marketing_sends`` was keyed (subject, brand, day): a provider naming its promotions with another's brand
used up that provider's daily slot. Rows from before are given the provider of their MT's application (0 when
unknown: the platform's own sends).

Revision ID: 0006_brand
Revises: 0006_camara
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_brand"
down_revision = "0006_camara"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("marketing_sends", sa.Column("provider_id", sa.BigInteger, nullable=False, server_default="0"))
    op.execute(
        "UPDATE marketing_sends s SET provider_id = a.provider_id FROM mt_messages m"
        " JOIN applications a ON a.id = m.application_id WHERE m.id = s.mt_id"
    )
    op.drop_constraint("marketing_sends_pkey", "marketing_sends", type_="primary")
    op.create_primary_key("marketing_sends_pkey", "marketing_sends", ["subject", "provider_id", "brand", "day"])


def downgrade() -> None:
    # Several providers' rows for one (subject, brand, day) fold into one: the earliest MT keeps the slot.
    op.execute(
        "DELETE FROM marketing_sends s USING marketing_sends t WHERE s.subject = t.subject AND s.brand = t.brand"
        " AND s.day = t.day AND (s.provider_id, coalesce(s.mt_id, 0)) > (t.provider_id, coalesce(t.mt_id, 0))"
    )
    op.drop_constraint("marketing_sends_pkey", "marketing_sends", type_="primary")
    op.create_primary_key("marketing_sends_pkey", "marketing_sends", ["subject", "brand", "day"])
    op.drop_column("marketing_sends", "provider_id")
