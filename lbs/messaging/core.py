"""The platform's SMPP side, assembled: one bind per account, MO in, MT out, receipts.

This facade only wires the parts and keeps the surface the app, the demo, the tests and the bench use. Each part
has one job (docs/messaging.md has the map):

- :class:`lbs.messaging.smpp.Bind` — the aiosmpplib ESME, its window, its workarounds;
- :class:`lbs.messaging.mo.MoIntake` — MO storage, handling, recovery;
- :class:`lbs.messaging.dispatch.Dispatcher` — claim, tier, window, submit;
- :class:`lbs.messaging.results.ResultWriter` — submit results and receipts, batched, retried until committed;
- :class:`lbs.messaging.sweep.Sweeper` — stuck rows, late receipts, MTs without a receipt, MOs left behind;
- :class:`lbs.messaging.supervisor.Supervisor` — restarts any of those loops that fails; /health reads it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from aiosmpplib import DeliverSm

from lbs.clock import Clock
from lbs.db import Conn
from lbs.messaging import outbox
from lbs.messaging.dispatch import Dispatcher
from lbs.messaging.mo import MoHandler, MoIntake
from lbs.messaging.outcomes import Outcome
from lbs.messaging.results import Listeners, ReceiptListener, ResultWriter, SubmitListener
from lbs.messaging.router import Reply
from lbs.messaging.smpp import Bind
from lbs.messaging.supervisor import Supervisor, TaskState
from lbs.messaging.sweep import Sweeper
from lbs.messaging.throttle import Throttle
from lbs.metrics import Metrics
from lbs.settings import Settings

__all__ = ["MessagingCore", "MoHandler", "ReceiptListener", "Reply", "SubmitListener"]

BIND_POLL_S = 0.02


class MessagingCore:
    """Owns the bind, the MO intake and the MT dispatcher of one SMPP account."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool[Any],
        redis: aioredis.Redis,
        on_mo: MoHandler,
        *,
        clock: Clock,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.clock = clock  # tests may replace it: every part reads it through _now
        self.listeners = Listeners()
        self.submit_listeners: list[SubmitListener] = self.listeners.submit  # the same lists: append here
        self.receipt_listeners: list[ReceiptListener] = self.listeners.receipt
        self.mo = MoIntake(pool, on_mo, self.enqueue, self._now, on_reply=self.wake)
        self.bind = Bind(settings, _Events(self))
        self.results = ResultWriter(pool, self._now, self.listeners, metrics=metrics, on_deferred=self.wake)
        self.dispatcher = Dispatcher(settings, pool, self.bind, Throttle(redis), self.results, self._now)
        self.sweeper = Sweeper(settings, pool, self._now, self.listeners, self.results, self.mo, metrics)
        self.supervisor = Supervisor(metrics)

    # --- the surface callers use -------------------------------------------------------------------------------

    @property
    def bound(self) -> bool:
        return self.bind.bound

    def tasks(self) -> dict[str, TaskState]:
        """The supervised loops and their state, for /health."""
        return self.supervisor.states()

    async def start(self) -> None:
        self.supervisor.start("esme", self.bind.run)
        self.supervisor.start("mt-dispatcher", self.dispatcher.run)
        self.supervisor.start("mt-results", self.results.run)
        self.supervisor.start("recovery", self.sweeper.run)

    async def wait_bound(self, within_s: float = 10.0) -> None:
        """Wait until the bind is up; TimeoutError after ``within_s``."""
        async with asyncio.timeout(within_s):
            while not self.bound:  # noqa: ASYNC110 - the ESME exposes no public bind event
                await asyncio.sleep(BIND_POLL_S)

    async def stop(self) -> None:
        await self.bind.stop()
        await self.supervisor.stop()
        await self.mo.stop()

    async def enqueue(self, conn: Conn, req: outbox.MtRequest) -> outbox.Enqueued:
        """Put an MT in the outbox in the caller's transaction; the dispatcher sends it once committed."""
        result = await outbox.enqueue(
            conn, req, now=self._now(), pseudonym_key=self.settings.pseudonym_key, short_code=self.settings.short_code
        )
        self.wake()
        return result

    async def send(self, req: outbox.MtRequest) -> outbox.Enqueued:
        """Enqueue one MT in a transaction of its own."""
        async with self.pool.acquire() as conn, conn.transaction():
            result = await self.enqueue(conn, req)
        self.wake()  # committed now: the dispatcher can see it
        return result

    def wake(self) -> None:
        """Tell the dispatcher that rows may be due (rows written by SQL elsewhere, e.g. a bench, call it too)."""
        self.dispatcher.wake.set()

    def _now(self) -> datetime:
        return self.clock()


class _Events:
    """The bind's callbacks, routed to the part that owns each."""

    def __init__(self, core: MessagingCore) -> None:
        self.core = core

    async def on_mo(self, pdu: DeliverSm) -> None:
        await self.core.mo.on_mo(pdu)

    def on_outcome(self, outcome: Outcome) -> None:
        self.core.results.put(outcome)
