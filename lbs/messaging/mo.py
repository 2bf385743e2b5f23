"""MO intake: store each MO before the SMSC is told it arrived, hand it to the keyword router, queue the reply.

- The bind calls :meth:`MoIntake.on_mo` from the library's hook; the MO row is committed before the hook returns
  (and so before ``deliver_sm_resp``). When it cannot be stored, the bind drops instead of acknowledging.
- Each MO is handled in a task of its own; the reply is enqueued in the transaction that marks the MO handled
  (idempotency key ``mo:<id>:reply``), so a second handling never sends a second reply.
- :meth:`MoIntake.recover` (called by the recovery sweep) handles MOs whose process died before it finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import structlog
from aiosmpplib import DeliverSm

from lbs.db import Conn
from lbs.errors import InvalidArgument
from lbs.messaging import outbox
from lbs.messaging.router import Mo, Reply
from lbs.msisdn import to_e164

log = structlog.get_logger(__name__)

MoHandler = Callable[[Mo], Awaitable[str | Reply | None]]
Enqueue = Callable[[Conn, outbox.MtRequest], Awaitable[outbox.Enqueued]]

MO_RETRY_AFTER = timedelta(seconds=60)  # an MO still 'received' this long after arrival is handled again
RECOVER_AT_ONCE = 100


class MoIntake:
    """Stores, handles and recovers MOs."""

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        on_mo: MoHandler,
        enqueue: Enqueue,
        clock: Callable[[], datetime],
        *,
        on_reply: Callable[[], None] = lambda: None,
    ) -> None:
        self.pool = pool
        self.on_reply = on_reply  # a reply committed: wake the dispatcher
        self.handler = on_mo  # the platform's: keyword router, consent, replies
        self.enqueue = enqueue
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    async def on_mo(self, pdu: DeliverSm) -> None:
        """Store one MO (raises when it cannot: the bind then does not acknowledge it) and start its handling."""
        text = pdu.short_message or pdu.message_payload
        try:
            source = to_e164(pdu.source.number)
        except InvalidArgument as exc:
            log.warning("mo refused", reason=exc.message, source=pdu.source.number)
            return
        received_at = self.clock()
        mo_id = await self.pool.fetchval(
            "INSERT INTO mo_messages (msisdn, destination, body, received_at) VALUES ($1, $2, $3, $4) RETURNING id",
            source,
            pdu.destination.number,
            text,
            received_at,
        )
        mo = Mo(source, pdu.destination.number, text, received_at, message_id=f"mo:{mo_id}")
        task = asyncio.create_task(self._handle_logged(int(mo_id), mo), name=f"mo-{mo_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle_logged(self, mo_id: int, mo: Mo) -> None:
        """A handling that fails on the database is left to the recovery sweep (the MO stays 'received')."""
        try:
            await self.handle(mo_id, mo)
        except Exception:
            log.exception("mo handling failed; the recovery sweep takes it up again", mo_id=mo_id)

    async def handle(self, mo_id: int, mo: Mo) -> None:
        """Run the handler, then queue its reply and mark the MO handled in one transaction."""
        try:
            answer = await self.handler(mo)
        except Exception:
            log.exception("mo handler failed", mo_id=mo_id)
            await self.pool.execute("UPDATE mo_messages SET status = 'failed' WHERE id = $1", mo_id)
            return
        reply = Reply(answer) if isinstance(answer, str) else answer
        async with self.pool.acquire() as conn, conn.transaction():
            done = await conn.fetchval(
                "UPDATE mo_messages SET status = 'handled', handled_at = $2 WHERE id = $1 AND status = 'received'"
                " RETURNING 1",
                mo_id,
                self.clock(),
            )
            if done and reply is not None and reply.text:
                request = outbox.MtRequest(
                    mo.source,
                    reply.text,
                    mo.destination,
                    application_id=reply.application_id,
                    idempotency_key=f"mo:{mo_id}:reply",
                )
                await self.enqueue(conn, request)
        self.on_reply()  # committed now: the dispatcher can see the reply

    async def recover(self) -> int:
        """Handle MOs left 'received' by a process that died; returns how many were taken up."""
        rows = await self.pool.fetch(
            "SELECT * FROM mo_messages WHERE status = 'received' AND received_at < $1 ORDER BY id LIMIT $2",
            self.clock() - MO_RETRY_AFTER,
            RECOVER_AT_ONCE,
        )
        for r in rows:
            mo = Mo(r["msisdn"], r["destination"], r["body"] or "", r["received_at"], message_id=f"mo:{r['id']}")
            await self.handle(r["id"], mo)
        return len(rows)

    async def stop(self) -> None:
        """Cancel handlings in progress (their MOs stay 'received': recovered by the next process)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
