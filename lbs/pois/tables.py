"""POI tables (mirrors migration 0004).

``pois.location`` is a ``geography(POINT, 4326)`` with a GiST index, so ``ORDER BY location <-> point`` is an
index-ordered nearest search in true metres. ``h3`` is the point's H3 cell (BIGINT, ``settings.pois_h3_res``),
kept for cell-keyed work (coarse areas, sharding) without an index: nearest-k needs only the GiST one, and a
second index cost a third of the import rate. ``poi_sets.version`` moves on every change of an application's
POIs, so in-memory indexes know to reload.
"""

from __future__ import annotations

import sqlalchemy as sa
from geoalchemy2 import Geography

from lbs.models import metadata

pois = sa.Table(
    "pois",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("application_id", sa.BigInteger, sa.ForeignKey("applications.id", ondelete="CASCADE"), nullable=False),
    sa.Column("external_id", sa.Text, nullable=False),
    sa.Column("category", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("address", sa.Text, nullable=False, server_default=""),
    sa.Column("phone", sa.Text, nullable=False, server_default=""),
    sa.Column("opening_hours", sa.Text, nullable=False, server_default=""),
    sa.Column("location", Geography(geometry_type="POINT", srid=4326, spatial_index=False), nullable=False),
    sa.Column("h3", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("application_id", "external_id", name="pois_application_external_key"),
    sa.CheckConstraint("category ~ '^[A-Z][A-Z0-9_]{1,31}$'", name="pois_category_check"),
    sa.CheckConstraint("length(external_id) BETWEEN 1 AND 128", name="pois_external_id_check"),
    sa.CheckConstraint("length(name) BETWEEN 1 AND 200", name="pois_name_check"),
    sa.Index("pois_location_gist", "location", postgresql_using="gist"),
)

# One row per application with POIs: bumped in the transaction of every import, read by in-memory indexes.
poi_sets = sa.Table(
    "poi_sets",
    metadata,
    sa.Column("application_id", sa.BigInteger, sa.ForeignKey("applications.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# Which application answers the POI keywords texted to a short code (default: settings.pois_application).
poi_short_codes = sa.Table(
    "poi_short_codes",
    metadata,
    sa.Column("short_code", sa.Text, sa.ForeignKey("short_codes.code", ondelete="CASCADE"), primary_key=True),
    sa.Column("application_id", sa.BigInteger, sa.ForeignKey("applications.id", ondelete="CASCADE"), nullable=False),
)

# Extra SMS words per application and short code (on top of the built-in EN/FR/NL words of lbs.pois.categories).
poi_keywords = sa.Table(
    "poi_keywords",
    metadata,
    sa.Column("short_code", sa.Text, sa.ForeignKey("short_codes.code", ondelete="CASCADE"), primary_key=True),
    sa.Column("keyword", sa.Text, primary_key=True),
    sa.Column("application_id", sa.BigInteger, sa.ForeignKey("applications.id", ondelete="CASCADE"), nullable=False),
    sa.Column("category", sa.Text, nullable=False),
    sa.Column("language", sa.Text, nullable=True),
    sa.CheckConstraint("keyword ~ '^[A-Z0-9]{2,20}$'", name="poi_keywords_keyword_check"),
    sa.CheckConstraint("language IN ('en', 'fr', 'nl')", name="poi_keywords_language_check"),
)
