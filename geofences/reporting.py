"""Positions in: MLP triggered reports at the LES for exactly the subscribers who may be geofenced now.

A subscriber is *wanted* while a live ``geofencing`` grant (not revoked, expired or paused, no subscriber-wide
pause) exists for an application that has an active promotion, or while an active CAMARA subscription names them
(its consent is checked per event). :meth:`ReportingManager.reconcile` starts a periodic TLRR for each wanted
subscriber that has none and stops (TLRSR) those no longer wanted, erasing their presence; the running requests
are kept in the Redis hash ``gf:reporting`` (MSISDN -> LES req_id). The scheduler role runs it, in one process,
every ``geofence_reconcile_s``; the pushed positions come back through the push listener (``api/push.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

import asyncpg
import redis.asyncio as aioredis
import structlog

from geofences.presence import PresenceStore, text
from lbs.clock import Clock
from lbs.mlp import LocationError, ReportRequest
from lbs.settings import Settings

log = structlog.get_logger(__name__)

REPORTING_KEY = "gf:reporting"

# Each wanted subscriber with the application the LES is asked on behalf of (its privacy check needs one).
_WANTED = """
SELECT DISTINCT ON (msisdn) msisdn, application FROM (
  SELECT g.msisdn, a.name AS application FROM consent_grants g
  JOIN subscribers s ON s.msisdn = g.msisdn
  JOIN applications a ON a.id = g.application_id
  WHERE g.purpose = 'geofencing' AND g.revoked_at IS NULL AND g.granted_at <= $1 AND g.expires_at > $1
    AND (g.paused_until IS NULL OR g.paused_until <= $1)
    AND (s.location_paused_until IS NULL OR s.location_paused_until <= $1)
    AND EXISTS (SELECT 1 FROM promotions p WHERE p.application_id = g.application_id AND p.status = 'active'
                AND p.valid_until > $1)
  UNION
  SELECT c.msisdn, a.name FROM geofencing_subscriptions c JOIN applications a ON a.id = c.application_id
  WHERE c.status = 'ACTIVE'
) wanted ORDER BY msisdn, application
"""


class ReportClient(Protocol):
    """The part of :class:`lbs.mlp.MlpClient` used here."""

    async def start_reports(self, request: ReportRequest, *, service: str | None = None) -> str: ...

    async def stop_reports(self, req_id: str) -> None: ...


class ReportingManager:
    """Keeps the LES's triggered reporting in line with consent and promotions."""

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        redis: aioredis.Redis,
        client: ReportClient,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.pool = pool
        self.redis = redis
        self.client = client
        self.settings = settings
        self.clock = clock
        self.presence = PresenceStore(redis, settings.retention_presence_s)

    async def wanted(self) -> dict[str, str]:
        """Subscribers who may be geofenced now, each with the application their reports are asked for."""
        rows = await self.pool.fetch(_WANTED, self.clock())
        return {r["msisdn"]: r["application"] for r in rows}

    async def running(self) -> dict[str, str]:
        """MSISDN -> req_id of the triggered reporting we started."""
        raw = await self.redis.hgetall(REPORTING_KEY)
        return {text(k): text(v) for k, v in raw.items()}

    async def reconcile(self) -> tuple[int, int]:
        """Start what is missing, stop what is no longer allowed: (started, stopped)."""
        wanted, running = await self.wanted(), await self.running()
        started = stopped = 0
        for msisdn in sorted(wanted.keys() - running.keys()):
            request = ReportRequest(msisdns=(msisdn,), interval_s=self.settings.geofence_report_interval_s)
            try:
                req_id = await self.client.start_reports(request, service=wanted[msisdn])
            except LocationError as exc:
                log.warning("triggered reporting not started", error=str(exc))
                continue
            await self.redis.hset(REPORTING_KEY, msisdn, req_id)
            started += 1
        for msisdn in sorted(running.keys() - wanted.keys()):
            with contextlib.suppress(LocationError):  # already gone at the LES: nothing to stop
                await self.client.stop_reports(running[msisdn])
            await self.redis.hdel(REPORTING_KEY, msisdn)
            await self.presence.forget(msisdn)
            stopped += 1
        return started, stopped

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile every ``geofence_reconcile_s`` until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.reconcile()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("reporting reconcile failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.geofence_reconcile_s):
                    await stop.wait()
