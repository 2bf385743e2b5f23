"""Points of interest: pois (geography point + GiST, H3 cell), poi_sets, poi_short_codes, poi_keywords.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geography

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pois",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("application_id", sa.BigInteger(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), server_default="", nullable=False),
        sa.Column("phone", sa.Text(), server_default="", nullable=False),
        sa.Column("opening_hours", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "location", Geography(geometry_type="POINT", srid=4326, spatial_index=False), nullable=False
        ),
        sa.Column("h3", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("category ~ '^[A-Z][A-Z0-9_]{1,31}$'", name="pois_category_check"),
        sa.CheckConstraint("length(external_id) BETWEEN 1 AND 128", name="pois_external_id_check"),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 200", name="pois_name_check"),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("application_id", "external_id", name="pois_application_external_key"),
    )
    op.create_index("pois_location_gist", "pois", ["location"], unique=False, postgresql_using="gist")
    op.create_table(
        "poi_sets",
        sa.Column("application_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("application_id"),
    )
    op.create_table(
        "poi_short_codes",
        sa.Column("short_code", sa.Text(), nullable=False),
        sa.Column("application_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["short_code"], ["short_codes.code"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("short_code"),
    )
    op.create_table(
        "poi_keywords",
        sa.Column("short_code", sa.Text(), nullable=False),
        sa.Column("keyword", sa.Text(), nullable=False),
        sa.Column("application_id", sa.BigInteger(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("language", sa.Text(), nullable=True),
        sa.CheckConstraint("keyword ~ '^[A-Z0-9]{2,20}$'", name="poi_keywords_keyword_check"),
        sa.CheckConstraint("language IN ('en', 'fr', 'nl')", name="poi_keywords_language_check"),
        sa.ForeignKeyConstraint(["short_code"], ["short_codes.code"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("short_code", "keyword"),
    )


def downgrade() -> None:
    op.drop_table("poi_keywords")
    op.drop_table("poi_short_codes")
    op.drop_table("poi_sets")
    op.drop_index("pois_location_gist", table_name="pois", postgresql_using="gist")
    op.drop_table("pois")
