"""Locating a subscriber for an application: consent first, then the LES, then audit and billing together.

Every location the platform asks for goes through :meth:`LocationService.locate`:
1. ``decide`` on the current grants (the platform-side check; the LES checks again before it discloses);
   refused -> :class:`ConsentRefused`, no MLP request, nothing billed;
2. a prepaid provider's price is reserved (refused -> 402, nothing located);
3. MLP SLIR with the application as ``serviceid``; a coarse grant is enforced here too (H3 cell centre);
4. one transaction: the audit row of the disclosure and the location CDR. An LES failure releases the
   reservation and bills nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import h3

from lbs import billing
from lbs.consent import audit
from lbs.consent.decision import Decision, Precision, Purpose, Reason
from lbs.consent.service import ConsentService
from lbs.errors import LbsError, NotFound
from lbs.mlp import MlpClient
from lbs.mlp.errors import LocationError
from lbs.mlp.models import Position, Qos

# Coarse precision: the centre of this H3 cell (res 7: ~5 km², edge ~1.4 km), reported with that uncertainty.
COARSE_RESOLUTION = 7
COARSE_ACCURACY_M = 1406.0


class ConsentRefused(LbsError):
    """No live grant: the code says why (CONSENT_REQUIRED, CONSENT_PAUSED, ...); nothing was located."""

    status = 403
    code = "CONSENT_REQUIRED"

    def __init__(self, decision: Decision, msisdn: str, application: str) -> None:
        super().__init__(f"{application} may not locate {msisdn}: {decision.reason.value}", code=decision.reason.value)
        self.decision = decision


@dataclass(frozen=True)
class Located:
    position: Position
    decision: Decision
    request_id: str
    application_id: int


def coarsen(position: Position) -> Position:
    """The centre of the position's H3 cell at the coarse resolution, with the cell's accuracy (never finer)."""
    cell = h3.latlng_to_cell(position.lat, position.lon, COARSE_RESOLUTION)
    lat, lon = h3.cell_to_latlng(cell)
    return replace(
        position, lat=lat, lon=lon, accuracy_m=max(position.accuracy_m, COARSE_ACCURACY_M), precision="coarse"
    )


class LocationService:
    """Consent-checked, audited, billed locations for applications."""

    def __init__(self, pool: asyncpg.Pool[Any], consent: ConsentService, mlp: MlpClient) -> None:
        self.pool = pool
        self.consent = consent
        self.mlp = mlp

    async def _application(self, name: str) -> tuple[int, int]:
        row = await self.pool.fetchrow("SELECT id, provider_id FROM applications WHERE name = $1", name.upper())
        if row is None:
            raise NotFound(f"no application named {name!r}")
        return int(row["id"]), int(row["provider_id"])

    async def locate(
        self,
        msisdn: str,
        application: str,
        purpose: Purpose,
        *,
        request_id: str,
        kind: billing.LocationKind = billing.LocationKind.ACTIVE,
        qos: Qos | None = None,
    ) -> Located:
        """Locate ``msisdn`` for ``application``; raises ConsentRefused, LocationError or a billing refusal."""
        app_id, provider_id = await self._application(application)
        decision = await self.consent.check(msisdn, application, purpose)
        if not decision.allowed:
            raise ConsentRefused(decision, msisdn, application.upper())
        key = f"loc:{request_id}"
        async with self.pool.acquire() as conn:
            await billing.reserve(
                conn,
                provider_id=provider_id,
                event_type=_event_type(kind),
                idempotency_key=key,
                now=self.consent.clock(),
            )
        try:
            position = await self.mlp.locate(msisdn, qos=qos, service=application.upper())
        except LocationError:
            async with self.pool.acquire() as conn:
                await billing.release(conn, key)
            raise
        if decision.precision == Precision.COARSE:
            position = coarsen(position)
        await self._record(msisdn, application, app_id, provider_id, purpose, decision, position, request_id, kind)
        return Located(position, decision, request_id, app_id)

    async def _record(
        self,
        msisdn: str,
        application: str,
        app_id: int,
        provider_id: int,
        purpose: Purpose,
        decision: Decision,
        position: Position,
        request_id: str,
        kind: billing.LocationKind,
    ) -> None:
        now = self.consent.clock()
        entry = audit.AuditEntry(
            kind="disclosure",
            actor=application.upper(),
            occurred_at=now,
            application_id=app_id,
            purpose=purpose.value,
            precision=decision.precision.value if decision.precision else None,
            grant_id=decision.grant_id,
            request_id=request_id,
            details={"method": position.method, "accuracy_m": round(position.accuracy_m), "kind": kind.value},
        )
        event = billing.LocationResult(
            idempotency_key=f"loc:{request_id}",
            provider_id=provider_id,
            occurred_at=now,
            application_id=app_id,
            kind=kind,
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await audit.append(conn, self.consent.subject(msisdn).ref, entry)
            await billing.record(conn, event)

    async def locate_self(self, msisdn: str, request_id: str, mo_id: str) -> Position:
        """A subscriber asking for their own position (WHERE): the request is the consent, the MO its proof."""
        position = await self.mlp.locate_self(msisdn)
        entry = audit.AuditEntry(
            kind="disclosure",
            actor=msisdn[:4] + "…",
            occurred_at=self.consent.clock(),
            purpose=Purpose.ACTIVE_LOOKUP.value,
            precision=Precision.EXACT.value,
            request_id=request_id,
            details={"self_location": True, "proof": mo_id, "reason": Reason.ALLOWED.value},
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await audit.append(conn, self.consent.subject(msisdn).ref, entry)
        return position


def _event_type(kind: billing.LocationKind) -> billing.EventType:
    return {
        billing.LocationKind.ACTIVE: billing.EventType.LOCATION_ACTIVE,
        billing.LocationKind.PASSIVE: billing.EventType.LOCATION_PASSIVE,
        billing.LocationKind.REST: billing.EventType.LOCATION_REST,
    }[kind]
