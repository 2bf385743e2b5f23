"""Every table the platform owns, gathered on one ``metadata`` for ``alembic check``.

Each domain keeps its tables next to its code (``lbs/<domain>/tables.py``) on the shared
``lbs.models.metadata``; importing this module registers them all. Add one import line per domain.
"""

from __future__ import annotations

from lbs.models import metadata

__all__ = ["metadata"]
import lbs.consent.tables  # noqa: F401
import lbs.billing.tables  # noqa: F401
import lbs.messaging.tables  # noqa: F401
import lbs.pois.tables  # noqa: F401
import geofences.tables  # noqa: F401
