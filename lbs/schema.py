"""Every table the platform owns, gathered on one ``metadata`` for ``alembic check``.

Each domain keeps its tables next to its code (``<package>/tables.py``) on the shared ``lbs.models.metadata``;
importing this module registers them all. Add one import line per domain.
"""

from __future__ import annotations

import geofences.tables
import lbs.billing.tables
import lbs.consent.tables
import lbs.messaging.tables
import lbs.oauth.tables
import lbs.pois.tables
from lbs.models import metadata

__all__ = ["metadata"]
DOMAIN_TABLES = (
    geofences.tables,
    lbs.billing.tables,
    lbs.consent.tables,
    lbs.messaging.tables,
    lbs.oauth.tables,
    lbs.pois.tables,
)
