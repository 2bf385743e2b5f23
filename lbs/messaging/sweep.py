"""The recovery sweep: what a dead process, a lost receipt or a race left unfinished is finished here.

Every :data:`SWEEP_EVERY_S`, in any running core:

- MTs left ``sending`` by a dead worker go back to the queue (at-least-once: see docs/messaging.md). Only after
  this process has seen :data:`STUCK_SENDING` of healthy PostgreSQL: right after an outage, a *live* worker's
  results may still be on their way, and re-queueing its rows then would send them twice.
- Receipts that reached PostgreSQL before their MT's submit result are applied.
- MTs still ``submitted`` past their validity plus a grace end ``expired`` ("no receipt within validity"): the
  SMSC lost them or their receipt. Receipt listeners hear stat ``EXPIRED``, so billing releases their hold.
- MOs whose handling died are handled again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import structlog

from lbs.messaging import outbox
from lbs.messaging.mo import MoIntake
from lbs.messaging.results import Listeners, ResultWriter
from lbs.metrics import Metrics
from lbs.settings import Settings

log = structlog.get_logger(__name__)

SWEEP_EVERY_S = 30.0
STUCK_SENDING = timedelta(seconds=60)  # 'sending' rows older than this lost their worker: re-queued
EXPIRE_EVERY_S = 300.0  # the expiry scan reads every submitted MT: not on every sweep


class Sweeper:
    """The periodic recovery of one core; :meth:`run` is supervised."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool[Any],
        clock: Callable[[], datetime],
        listeners: Listeners,
        results: ResultWriter,
        mo: MoIntake,
        metrics: Metrics | None = None,
    ) -> None:
        self.pool = pool
        self.clock = clock
        self.listeners = listeners
        self.results = results
        self.mo = mo
        self.metrics = metrics
        self.no_receipt_after = timedelta(seconds=settings.smpp_validity_s + settings.smpp_receipt_grace_s)
        self.last_failure = time.monotonic()  # as if we had just recovered: a new process waits like one
        self._last_expiry = float("-inf")

    async def run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                self.last_failure = time.monotonic()
                raise
            await asyncio.sleep(SWEEP_EVERY_S)

    async def sweep(self) -> None:
        """One pass of every recovery step."""
        if self._healthy_for() >= STUCK_SENDING.total_seconds():
            await outbox.requeue_stuck(self.pool, STUCK_SENDING, self.clock())
        async with self.pool.acquire() as conn, conn.transaction():  # receipts that raced across workers
            await self.listeners.finished(conn, await outbox.apply_receipts(conn, self.clock()))
        await outbox.forget_receipts(self.pool, self.clock())
        if time.monotonic() - self._last_expiry >= EXPIRE_EVERY_S:
            await self.expire()
            self._last_expiry = time.monotonic()
        await self.mo.recover()

    async def expire(self) -> int:
        """Resolve MTs whose receipt never came (see the module's docstring); returns how many."""
        async with self.pool.acquire() as conn, conn.transaction():
            ids = await outbox.expire_unreceipted(conn, self.no_receipt_after, self.clock())
            await self.listeners.finished(conn, [(i, "EXPIRED") for i in ids])
        if ids:
            log.warning("mts expired without a receipt", count=len(ids))
            if self.metrics is not None:
                self.metrics.mt_expired.inc(len(ids))
        return len(ids)

    def _healthy_for(self) -> float:
        """Seconds since this process last saw PostgreSQL fail (here or in the result writer)."""
        return time.monotonic() - max(self.last_failure, self.results.last_failure)
