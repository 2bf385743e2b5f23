"""The MT dispatcher: claim due outbox rows, wait for the short code's tier and a window slot, submit.

It claims about :data:`CLAIM_HORIZON_S` of work at a time (the batch adapts to the rate the throttle lets out),
so a throttled worker does not hoard rows other workers could send. When anything fails mid-batch (Redis gone
during the throttle, PostgreSQL gone during the STOP check), the rows it claimed but did not submit are
deferred at once through the result writer, then the error ends the loop and the supervisor restarts it: those
rows were never on the wire, so sending them again later cannot deliver them twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from lbs.messaging import outbox
from lbs.messaging.outcomes import Deferred, MtRef
from lbs.messaging.results import ResultWriter
from lbs.messaging.smpp import Bind, submit_sm_of
from lbs.messaging.throttle import Throttle
from lbs.pseudonym import pseudonym
from lbs.settings import Settings

IDLE_POLL_S = 0.2  # an idle dispatcher looks for due rows this often (and at once when woken)
UNBOUND_POLL_S = 0.01
MAX_BATCH = 200
CLAIM_HORIZON_S = 0.2  # claim what can be sent in this long
TIER_CACHE_S = 60.0  # an operator's change of a short code's tier takes effect within this long


class Dispatcher:
    """Sends the outbox over one bind; :meth:`run` is supervised."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool[Any],
        bind: Bind,
        throttle: Throttle,
        results: ResultWriter,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.bind = bind
        self.throttle = throttle
        self.results = results
        self.clock = clock
        self.wake = asyncio.Event()  # set when a row may have become due (enqueue, deferral)
        self._tiers: dict[str, tuple[int, float]] = {}
        self._batch = 10  # rows claimed at once; adapts to the rate the throttle lets out
        self._validity = timedelta(seconds=settings.smpp_validity_s)

    async def run(self) -> None:
        while True:
            self.bind.check()
            free = self.bind.free
            if not self.bind.bound or free <= 0:
                await asyncio.sleep(UNBOUND_POLL_S)
                continue
            self.wake.clear()  # before the claim: a wake-up during it must not be lost
            rows = await outbox.claim(self.pool, min(free, self._batch), self.clock())
            if not rows:
                await self._idle()
                continue
            started = time.perf_counter()
            await self._send_all(rows)
            self._adapt_batch(len(rows), time.perf_counter() - started)

    async def _idle(self) -> None:
        # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that races its timeout.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(IDLE_POLL_S):
                await self.wake.wait()

    async def _send_all(self, rows: list[asyncpg.Record]) -> None:
        """Submit each row; on any failure, defer the rows not yet handed to the bind, then raise."""
        for i, row in enumerate(rows):
            try:
                await self._submit(row)
            except BaseException as exc:
                for unsent in rows[i:]:
                    ref = MtRef(int(unsent["id"]), int(unsent["attempts"]))
                    self.results.put(Deferred(ref, f"not sent: {exc!r}"))
                raise

    def _adapt_batch(self, sent: int, elapsed_s: float) -> None:
        """Claim about 200 ms of work at a time: a throttled worker must not hoard rows other workers could send."""
        if sent < self._batch:
            return
        rate = sent / max(elapsed_s, 1e-6)
        self._batch = max(1, min(MAX_BATCH, int(rate * CLAIM_HORIZON_S)))

    async def _submit(self, row: asyncpg.Record) -> None:
        if row["message_class"] == "marketing":  # the STOP list is checked again at dispatch
            subject = pseudonym(self.settings.pseudonym_key, row["msisdn"])
            if await outbox.opted_out(self.pool, subject, row["brand"]):
                await outbox.fail(self.pool, row["id"], "suppressed: opted out before dispatch")
                return
        await self.throttle.acquire(row["source"], await self._tier(row["source"]))
        await self.bind.submit(submit_sm_of(row, self._validity))

    async def _tier(self, source: str) -> int:
        """The sender's tier, re-read every minute so an operator's change needs no restart."""
        cached = self._tiers.get(source)
        if cached is None or time.monotonic() - cached[1] > TIER_CACHE_S:
            tps = await self.pool.fetchval("SELECT throughput_tps FROM short_codes WHERE code = $1", source)
            cached = (int(tps or self.settings.default_tps), time.monotonic())
            self._tiers[source] = cached
        return cached[0]
