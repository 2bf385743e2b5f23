"""The scheduler role's periodic jobs. Each job has exactly one owning role (this one), so a deployment runs it
in one process, however many API or worker processes it has.

- ``retention`` (every ``retention_interval_s``): forget what is past its retention;
- ``prepaid_release`` (every ``billing_release_stale_s``): release prepaid holds whose action never reported back
  (a crashed worker's), once older than ``billing_hold_max_age_s``;
- ``statements`` (every ``billing_close_check_s``): close the last month once it has ended, every provider's
  statement exactly once.

The LES's triggered reporting (:class:`geofences.reporting.ReportingManager`) is also kept in line by this role.
Receipt matching is the messaging role's, CAMARA subscription expiry the geofence workers'.
A job that fails logs and waits for its next turn: one bad run never ends the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import structlog

from lbs.billing.errors import MonthAlreadyClosed
from lbs.billing.fees import schedule_from
from lbs.billing.prepaid import release_stale
from lbs.billing.rating import period_of, previous_period
from lbs.billing.statements import close_month
from lbs.clock import Clock
from lbs.consent.privacy_ops import run_retention
from lbs.settings import Settings

log = structlog.get_logger(__name__)

Action = Callable[[], Awaitable[Any]]


@dataclass
class Job:
    """One periodic job: ``action`` every ``every_s`` seconds (first run after one interval)."""

    name: str
    every_s: float
    action: Action
    runs: int = 0
    failures: int = 0
    last_error: str | None = field(default=None)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            await self.run_once()

    async def run_once(self) -> None:
        """One turn; a failure is logged and counted, never raised (the loop goes on)."""
        try:
            result = await self.action()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # supervised: any failure waits for the next turn
            self.failures += 1
            self.last_error = repr(exc)
            log.exception("periodic job failed; next try in one interval", job=self.name)
            return
        self.runs += 1
        self.last_error = None
        log.info("periodic job", job=self.name, result=result)


def jobs(settings: Settings, pool: asyncpg.Pool[Any], clock: Clock) -> list[Job]:
    """The scheduler role's jobs."""

    async def retention() -> dict[str, int]:
        return await run_retention(pool, settings, clock())

    async def prepaid_release() -> int:
        async with pool.acquire() as conn:
            return await release_stale(conn, timedelta(seconds=settings.billing_hold_max_age_s), clock())

    async def statements() -> int:
        return await close_ended_month(pool, settings, clock())

    return [
        Job("retention", settings.retention_interval_s, retention),
        Job("prepaid_release", settings.billing_release_stale_s, prepaid_release),
        Job("statements", settings.billing_close_check_s, statements),
    ]


async def close_ended_month(pool: asyncpg.Pool[Any], settings: Settings, now: datetime) -> int:
    """Close the month before ``now``'s (statements written once); 0 when it was already closed."""
    period = previous_period(period_of(now))
    async with pool.acquire() as conn:
        try:
            closed = await close_month(conn, period, closed_by="scheduler", schedule=schedule_from(settings), now=now)
        except MonthAlreadyClosed:
            return 0
    return len(closed)
