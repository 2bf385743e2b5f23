"""The consent rule, in one pure function: may this application locate this subscriber for this purpose, now?

Nothing else in the platform decides it; the LES privacy check, the SMS keywords and the REST APIs all call
:func:`decide` with the subscriber's grants as they are in the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Purpose(StrEnum):
    ACTIVE_LOOKUP = "active_lookup"
    GEOFENCING = "geofencing"
    MARKETING = "marketing"


class Precision(StrEnum):
    EXACT = "exact"
    COARSE = "coarse"


class Reason(StrEnum):
    """Why a decision came out as it did; the refusals double as API error codes."""

    ALLOWED = "ALLOWED"
    CONSENT_REQUIRED = "CONSENT_REQUIRED"
    CONSENT_REVOKED = "CONSENT_REVOKED"
    CONSENT_EXPIRED = "CONSENT_EXPIRED"
    CONSENT_PAUSED = "CONSENT_PAUSED"


@dataclass(frozen=True)
class Grant:
    """The current state of one grant (the projection of its consent events)."""

    id: int
    application: str
    purpose: Purpose
    precision: Precision
    granted_at: datetime
    expires_at: datetime
    paused_until: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    precision: Precision | None
    reason: Reason
    grant_id: int | None

    @classmethod
    def refuse(cls, reason: Reason, grant_id: int | None = None) -> Decision:
        return cls(False, None, reason, grant_id)


def decide(
    grants: Iterable[Grant],
    application: str,
    purpose: Purpose,
    now: datetime,
    *,
    subscriber_paused_until: datetime | None = None,
) -> Decision:
    """Allow only with a grant for exactly this application and purpose that is live at ``now``.

    Refusal order: subscriber-wide pause (``PAUSE 2H``), no grant, revoked, expired, paused grant.
    An allowed decision carries the grant's precision, never more. Erasure removes every grant.
    """
    if subscriber_paused_until is not None and now < subscriber_paused_until:
        return Decision.refuse(Reason.CONSENT_PAUSED)
    grant = next((g for g in grants if g.application == application and g.purpose == purpose), None)
    if grant is None:
        return Decision.refuse(Reason.CONSENT_REQUIRED)
    if grant.revoked_at is not None and grant.revoked_at <= now:
        return Decision.refuse(Reason.CONSENT_REVOKED, grant.id)
    if now < grant.granted_at:
        return Decision.refuse(Reason.CONSENT_REQUIRED, grant.id)
    if now >= grant.expires_at:
        return Decision.refuse(Reason.CONSENT_EXPIRED, grant.id)
    if grant.paused_until is not None and now < grant.paused_until:
        return Decision.refuse(Reason.CONSENT_PAUSED, grant.id)
    return Decision(True, grant.precision, Reason.ALLOWED, grant.id)
