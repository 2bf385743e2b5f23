"""The batched writer of submit results and receipts: many outcomes, one transaction, one round trip or two.

The bind's callbacks only queue :mod:`lbs.messaging.outcomes`; this task writes them. A batch that fails to
commit (PostgreSQL restarting, a listener's bug) is kept and written again, whole, until it commits: dropping
it would leave its rows ``sending`` (re-sent by the recovery sweep: delivered twice) and lose its receipts.
The retry is the supervisor's restart with back-off; the batch lives in the writer, not in the task.

Listeners run inside the batch's transaction: submit listeners get each accepted MT's row, receipt listeners
``(conn, mt id, stat)`` for each MT a receipt (or the expiry sweep) finished. Billing and promotion reports use
them, so their records commit exactly with the outcome they count.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import structlog

from lbs.db import Conn
from lbs.messaging import outbox
from lbs.messaging.outcomes import Deferred, Failed, Outcome, Receipt, Submitted
from lbs.metrics import Metrics

log = structlog.get_logger(__name__)

ReceiptListener = Callable[[Conn, int, str], Awaitable[None]]  # (conn, mt id, stat) in the receipt's transaction
SubmitListener = Callable[[Conn, asyncpg.Record], Awaitable[None]]  # (conn, MT row) when the SMSC accepted it

MAX_BATCH = 1000  # outcomes per transaction
UNMATCHED_RETRY_S = 0.25
UNMATCHED_FOR_S = 60.0  # after this the recovery sweep has them


def backoff(attempts: int) -> timedelta:
    """Retry delay after a throttled or lost submit: 0.5 s doubling, at most 60 s."""
    return timedelta(seconds=min(60.0, 0.5 * 2 ** max(0, attempts - 1)))


@dataclass
class Listeners:
    """Who hears about accepted and finished MTs (shared by the facade, the writer and the sweep)."""

    submit: list[SubmitListener] = field(default_factory=list)
    receipt: list[ReceiptListener] = field(default_factory=list)

    async def submitted(self, conn: Conn, rows: list[asyncpg.Record]) -> None:
        for row in rows:
            for listener in self.submit:
                await listener(conn, row)

    async def finished(self, conn: Conn, done: list[tuple[int, str]]) -> None:
        for mt_id, stat in done:
            for listener in self.receipt:
                await listener(conn, mt_id, stat)


class ResultWriter:
    """Queue of outcomes -> batched transactions; :meth:`run` is supervised."""

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        clock: Callable[[], datetime],
        listeners: Listeners,
        *,
        metrics: Metrics | None = None,
        on_deferred: Callable[[], None] = lambda: None,
    ) -> None:
        self.pool = pool
        self.clock = clock
        self.listeners = listeners
        self.metrics = metrics
        self.on_deferred = on_deferred  # wakes the dispatcher: deferred rows are due again soon
        self._queue: asyncio.Queue[Outcome] = asyncio.Queue()
        self._batch: list[Outcome] = []  # taken from the queue, not committed yet: written again after a failure
        self._unmatched: dict[str, float] = {}  # receipts (SMSC id -> when) that matched no MT yet
        self.last_failure = time.monotonic()  # the recovery sweep waits for a healthy stretch (see sweep.py)

    def put(self, outcome: Outcome) -> None:
        self._queue.put_nowait(outcome)

    async def run(self) -> None:
        """Write batches until cancelled; a failure raises (the supervisor restarts us) and keeps the batch."""
        while True:
            if not self._batch:
                await self._take()
            try:
                await self._write(self._batch)
            except Exception:
                self.last_failure = time.monotonic()
                if self.metrics is not None:
                    self.metrics.result_retries.inc()
                raise
            self._after_commit(self._batch)
            self._batch = []

    async def _take(self) -> None:
        """Wait for outcomes (or for the next unmatched-receipt retry), then take what is queued."""
        try:
            async with asyncio.timeout(UNMATCHED_RETRY_S if self._unmatched else None):
                self._batch.append(await self._queue.get())
        except TimeoutError:
            pass
        while not self._queue.empty() and len(self._batch) < MAX_BATCH:
            self._batch.append(self._queue.get_nowait())

    def _after_commit(self, batch: list[Outcome]) -> None:
        if self.metrics is not None:
            self.metrics.mt_sent.inc(sum(isinstance(o, Submitted) for o in batch))
        if any(isinstance(o, Deferred) for o in batch):
            self.on_deferred()

    async def _write(self, batch: list[Outcome]) -> None:
        """One transaction: submits first (FIFO), then refusals, then receipts, then unmatched receipts again."""
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            accepted = [(o.ref.mt_id, o.ref.attempt, o.smsc_id) for o in batch if isinstance(o, Submitted)]
            if accepted:
                await self.listeners.submitted(conn, await outbox.record_submitted(conn, accepted, now))
            await _refusals(conn, batch, now)
            receipts = [(o.smsc_id, o.stat) for o in batch if isinstance(o, Receipt)]
            if accepted or receipts:
                await self._receipts(conn, [v for _, _, v in accepted], receipts, now)
            await self._retry_unmatched(conn, now)

    async def _receipts(self, conn: Conn, submitted: list[str], receipts: list[tuple[str, str]], now: datetime) -> None:
        """Store the receipts and apply every stored one these submits or receipts complete."""
        await outbox.store_receipts(conn, receipts, now)
        done = await outbox.apply_receipts(conn, now, submitted + [i for i, _ in receipts])
        await self.listeners.finished(conn, done)
        if len(done) < len(receipts):
            matched = await outbox.applied(conn, [i for i, _ in receipts])
            stamp = time.monotonic()
            self._unmatched.update({i: stamp for i, _ in receipts if i not in matched})

    async def _retry_unmatched(self, conn: Conn, now: datetime) -> None:
        """Receipts that matched no submitted MT yet (another worker's MT, its submit not committed when we
        looked) are tried again every ``UNMATCHED_RETRY_S`` for a minute; after that the 30-s sweep has them."""
        cutoff = time.monotonic() - UNMATCHED_FOR_S
        self._unmatched = {i: t for i, t in self._unmatched.items() if t > cutoff}
        if not self._unmatched:
            return
        ids = list(self._unmatched)
        await self.listeners.finished(conn, await outbox.apply_receipts(conn, now, ids))
        for smsc_id in await outbox.applied(conn, ids):
            self._unmatched.pop(smsc_id, None)


async def _refusals(conn: Conn, batch: list[Outcome], now: datetime) -> None:
    """Deferred rows go back to the queue with back-off; failed ones end (each only for its own claim)."""
    for o in batch:
        if isinstance(o, Deferred):
            await outbox.defer(conn, o.ref.mt_id, now + backoff(o.ref.attempt), o.reason, o.ref.attempt)
        elif isinstance(o, Failed):
            await outbox.fail(conn, o.ref.mt_id, o.reason, o.ref.attempt)
