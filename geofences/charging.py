"""Each position received for geofencing is a billable location event (passive) for the application it serves.

The applications served by a subscriber's position are those with a live ``geofencing`` grant from that subscriber
and an active promotion: each is billed once per position (idempotency key ``loc:gf:<msisdn>:<time>:<app>``, so a
replayed stream entry bills nothing), through :func:`lbs.billing.batch.record_many`, one transaction per batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from geofences.transitions import Report
from lbs.billing.batch import record_many
from lbs.billing.events import LocationKind, LocationResult
from lbs.errors import LbsError

log = structlog.get_logger(__name__)

Payers = Mapping[str, Sequence[tuple[int, int]]]  # msisdn -> [(application id, provider id)]

_PAYERS = """
SELECT DISTINCT g.msisdn, a.id AS application_id, a.provider_id FROM consent_grants g
JOIN applications a ON a.id = g.application_id
WHERE g.msisdn = ANY($1::text[]) AND g.purpose = 'geofencing' AND g.revoked_at IS NULL
  AND g.granted_at <= $2 AND g.expires_at > $2 AND (g.paused_until IS NULL OR g.paused_until <= $2)
  AND EXISTS (SELECT 1 FROM promotions p WHERE p.application_id = a.id AND p.status = 'active' AND p.valid_until > $2)
"""


def position_events(reports: Sequence[Report], payers: Payers) -> list[LocationResult]:
    """One passive location event per (report, application served)."""
    return [
        LocationResult(
            idempotency_key=f"loc:gf:{r.msisdn}:{r.at!r}:{app}",
            provider_id=provider,
            application_id=app,
            occurred_at=datetime.fromtimestamp(r.at, UTC),
            kind=LocationKind.PASSIVE,
        )
        for r in reports
        for app, provider in payers.get(r.msisdn, ())
    ]


async def payers_of(conn: Any, msisdns: Sequence[str], now: datetime) -> dict[str, list[tuple[int, int]]]:
    """The applications each subscriber's positions serve now."""
    out: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for row in await conn.fetch(_PAYERS, sorted(set(msisdns)), now):
        out[row["msisdn"]].append((int(row["application_id"]), int(row["provider_id"])))
    return out


async def bill_positions(pool: asyncpg.Pool[Any], reports: Sequence[Report], now: datetime) -> int:
    """Bill a batch of positions; the number of CDRs written (a refusal such as an empty prepaid balance is logged)."""
    if not reports:
        return 0
    async with pool.acquire() as conn:
        events = position_events(reports, await payers_of(conn, [r.msisdn for r in reports], now))
        if not events:
            return 0
        try:
            return len(await record_many(conn, events))
        except LbsError as exc:
            log.warning("positions not billed", error=exc.message, events=len(events))
            return 0
