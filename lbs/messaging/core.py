"""The platform's SMPP side: one aiosmpplib ESME (transceiver) per account, MO in, MT out, receipts.

- MO: the hook stores each MO in ``mo_messages`` *before* the library answers ``deliver_sm_resp``, then hands it
  to the keyword router in its own task; the reply goes to the outbox in the transaction that marks the MO
  handled (idempotency key ``mo:<id>:reply``). MOs left unhandled by a crash are picked up again.
- MT: a dispatcher claims due rows from the outbox, waits for the short code's throughput tier (shared token
  bucket in Redis) and for a window slot, and submits; responses and receipts update the rows in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import structlog
from aiosmpplib import (
    ESME,
    NPI,
    TON,
    AbstractHook,
    DeliverSm,
    GenericNack,
    PhoneNumber,
    SmppSessionState,
    SubmitSm,
    SubmitSmResp,
)
from aiosmpplib.state import SmppCommandStatus

from lbs.clock import Clock
from lbs.consent.audit import pseudonym
from lbs.db import Conn
from lbs.errors import InvalidArgument
from lbs.messaging import outbox
from lbs.messaging.router import Mo, Reply
from lbs.messaging.smpp import FastCorrelator, WindowedBroker, install
from lbs.messaging.throttle import Throttle
from lbs.msisdn import is_short_code, to_e164
from lbs.settings import Settings

log = structlog.get_logger(__name__)


MoHandler = Callable[[Mo], Awaitable[str | Reply | None]]
__all__ = ["MessagingCore", "MoHandler", "Reply"]
ReceiptListener = Callable[[Conn, int, str], Awaitable[None]]  # (conn, mt id, stat) in the receipt's transaction
SubmitListener = Callable[[Conn, asyncpg.Record], Awaitable[None]]  # (conn, MT row) when the SMSC accepted it

ENQUIRE_LINK_INTERVAL_S = 30.0  # aiosmpplib requires floats
MO_RETRY_AFTER = timedelta(seconds=60)  # an MO still 'received' this long after arrival is handled again
STUCK_SENDING = timedelta(seconds=60)  # 'sending' rows older than this lost their worker: re-queued
IDLE_POLL_S = 0.2
MAX_BATCH = 200
CLAIM_HORIZON_S = 0.2  # claim what can be sent in this long
TIER_CACHE_S = 60.0
UNMATCHED_RETRY_S = 0.25
# Receipts are matched to MTs in PostgreSQL by SMSC id; the library's own receipt correlation is only kept briefly
# (it serves concatenated MTs whose parts' receipts come back to the same bind).
RECEIPT_CORRELATION_S = 30.0
THROTTLED = {SmppCommandStatus.ESME_RTHROTTLED, SmppCommandStatus.ESME_RMSGQFUL}


def address(number: str) -> PhoneNumber:
    """An SMPP address: short codes as they are, alphanumeric OADCs as such, MSISDNs as international digits."""
    if is_short_code(number):
        return PhoneNumber(number, TON.NETWORK_SPECIFIC, NPI.UNKNOWN)
    if not number.lstrip("+").isdigit():
        return PhoneNumber(number, TON.ALPHANUMERIC, NPI.UNKNOWN)
    return PhoneNumber(to_e164(number).lstrip("+"), TON.INTERNATIONAL, NPI.ISDN)


def mt_id_of(log_id: str) -> int | None:
    return int(log_id[3:]) if log_id.startswith("mt:") and log_id[3:].isdigit() else None


def backoff(attempts: int) -> timedelta:
    """Retry delay after a throttled or lost submit: 0.5 s doubling, at most 60 s."""
    return timedelta(seconds=min(60.0, 0.5 * 2 ** max(0, attempts - 1)))


class _Hook(AbstractHook):  # type: ignore[misc]  # aiosmpplib ships no type information
    def __init__(self, core: MessagingCore) -> None:
        self.core = core

    async def sending(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
        return None

    async def received(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
        if isinstance(smpp_message, DeliverSm):
            await self.core.on_deliver_sm(smpp_message)
        elif isinstance(smpp_message, SubmitSmResp | GenericNack):
            self.core.on_response(smpp_message)

    async def send_error(self, smpp_message: Any, error: Exception, client_id: str) -> None:
        self.core.on_send_error(smpp_message, error)


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
    ) -> None:
        install()
        self.settings = settings
        self.pool = pool
        self.on_mo = on_mo
        self.clock = clock
        self.throttle = Throttle(redis)
        self.broker = WindowedBroker(settings.smpp_window)
        self.esme = ESME(
            settings.smsc_host,
            settings.smsc_port,
            settings.smpp_system_id,
            settings.smpp_password,
            client_id=f"lbs-{settings.smpp_system_id}",
            enquire_link_interval=ENQUIRE_LINK_INTERVAL_S,
            log_level=logging.ERROR,  # it warns for every receipt another bind's MT: matched in PostgreSQL instead
            hook=_Hook(self),
            broker=self.broker,
            correlator=FastCorrelator(f"lbs-{settings.smpp_system_id}", max_ttl_delivery=RECEIPT_CORRELATION_S),
        )
        self.receipt_listeners: list[ReceiptListener] = []
        self.submit_listeners: list[SubmitListener] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._results: asyncio.Queue[tuple[str, int, Any]] = asyncio.Queue()
        self._tiers: dict[str, tuple[int, float]] = {}
        self._batch = 10  # rows claimed at once; adapts to the rate the throttle lets out
        self._unmatched: dict[str, float] = {}  # receipts (SMSC id -> when) that matched no MT yet

    # --- lifecycle ------------------------------------------------------------------------------------------

    @property
    def bound(self) -> bool:
        return bool(self.esme.session_state == SmppSessionState.BOUND_TRX)

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self) -> None:
        self._spawn(self.esme.start(), "esme")
        self._spawn(self._dispatch_loop(), "mt-dispatcher")
        self._spawn(self._result_writer(), "mt-results")
        self._spawn(self._mo_recovery_loop(), "mo-recovery")

    async def wait_bound(self, within_s: float = 10.0) -> None:
        """Wait until the bind is up; TimeoutError after ``within_s``."""
        async with asyncio.timeout(within_s):
            while not self.bound:  # noqa: ASYNC110 - the ESME exposes no public bind event
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        # aiosmpplib 0.7.4 only write_eof()s its socket on stop; we close it ourselves (else ResourceWarning).
        writer = getattr(self.esme, "_writer", None)
        await self._stop_esme()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _stop_esme(self) -> None:
        """Unbind and end the ESME's tasks now.

        ``ESME.stop()`` (aiosmpplib 0.7.4) gives each of its tasks a 0.5 s grace period and waits for the SMSC
        to close the connection; a server stop (and every test) would pay a second or more. We reach into the
        pinned version's internals instead: stop reconnecting, unbind, and cancel its tasks at once.
        """
        esme = self.esme
        esme._is_shutting_down = True
        if self.bound:
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await esme._disconnect()
        for task in asyncio.all_tasks():
            frame = getattr(task.get_coro(), "cr_frame", None)
            if frame is not None and frame.f_locals.get("self") is esme and task is not asyncio.current_task():
                task.cancel()

    # --- MO -------------------------------------------------------------------------------------------------

    async def on_deliver_sm(self, pdu: DeliverSm) -> None:
        if pdu.is_receipt():
            await self._on_receipt(pdu)
            return
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
        self._spawn(self.handle_mo(int(mo_id), mo), f"mo-{mo_id}")

    async def handle_mo(self, mo_id: int, mo: Mo) -> None:
        """Run the handler, then queue its reply and mark the MO handled in one transaction."""
        try:
            answer = await self.on_mo(mo)
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
                await self.enqueue(
                    conn,
                    outbox.MtRequest(
                        mo.source,
                        reply.text,
                        mo.destination,
                        application_id=reply.application_id,
                        idempotency_key=f"mo:{mo_id}:reply",
                    ),
                )
        self._wake.set()  # committed now: the dispatcher can see the reply

    async def _mo_recovery_loop(self) -> None:
        """Every 30 s: MOs whose handler died, and MTs left 'sending' by a dead worker, are taken up again."""
        while True:
            await outbox.requeue_stuck(self.pool, STUCK_SENDING, self.clock())
            async with self.pool.acquire() as conn, conn.transaction():  # receipts that raced across workers
                await self._finish(conn, await outbox.apply_receipts(conn, self.clock()))
            await outbox.forget_receipts(self.pool, self.clock())
            rows = await self.pool.fetch(
                "SELECT * FROM mo_messages WHERE status = 'received' AND received_at < $1 ORDER BY id LIMIT 100",
                self.clock() - MO_RETRY_AFTER,
            )
            for r in rows:
                mo = Mo(r["msisdn"], r["destination"], r["body"] or "", r["received_at"], message_id=f"mo:{r['id']}")
                await self.handle_mo(r["id"], mo)
            await asyncio.sleep(MO_RETRY_AFTER.total_seconds() / 2)

    # --- MT -------------------------------------------------------------------------------------------------

    async def enqueue(self, conn: Conn, req: outbox.MtRequest) -> outbox.Enqueued:
        """Put an MT in the outbox in the caller's transaction; the dispatcher sends it once committed."""
        result = await outbox.enqueue(
            conn, req, now=self.clock(), pseudonym_key=self.settings.pseudonym_key, short_code=self.settings.short_code
        )
        self._wake.set()
        return result

    async def send(self, req: outbox.MtRequest) -> outbox.Enqueued:
        """Enqueue one MT in a transaction of its own."""
        async with self.pool.acquire() as conn, conn.transaction():
            result = await self.enqueue(conn, req)
        self._wake.set()
        return result

    async def _tier(self, source: str) -> int:
        """The sender's tier, re-read every minute so an operator's change needs no restart."""
        cached = self._tiers.get(source)
        if cached is None or time.monotonic() - cached[1] > TIER_CACHE_S:
            tps = await self.pool.fetchval("SELECT throughput_tps FROM short_codes WHERE code = $1", source)
            cached = (int(tps or self.settings.default_tps), time.monotonic())
            self._tiers[source] = cached
        return cached[0]

    async def _dispatch_loop(self) -> None:
        await outbox.requeue_stuck(self.pool, STUCK_SENDING, self.clock())
        was_bound = False
        writer = None
        while True:
            if was_bound and not self.bound:
                self._bind_lost()
                # aiosmpplib 0.7.4 drops the old socket on reconnect without closing it (ResourceWarning, fd leak).
                if writer is not None:
                    writer.close()
                writer = None
            was_bound = self.bound
            if was_bound and writer is None:
                writer = getattr(self.esme, "_writer", None)
            free = self.settings.smpp_window - self.broker.outstanding
            if not self.bound or free <= 0:
                await asyncio.sleep(0.01)
                continue
            self._wake.clear()  # before the claim: a wake-up during it must not be lost
            rows = await outbox.claim(self.pool, min(free, self._batch), self.clock())
            if not rows:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that races its timeout.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(IDLE_POLL_S):
                        await self._wake.wait()
                continue
            started = time.perf_counter()
            for row in rows:
                await self._submit(row)
            self._adapt_batch(len(rows), time.perf_counter() - started)

    def _adapt_batch(self, sent: int, elapsed_s: float) -> None:
        """Claim about 200 ms of work at a time: a throttled worker must not hoard rows other workers could send."""
        if sent < self._batch:
            return
        rate = sent / max(elapsed_s, 1e-6)
        self._batch = max(1, min(MAX_BATCH, int(rate * CLAIM_HORIZON_S)))

    def _bind_lost(self) -> None:
        """Submits in flight when the bind dropped will get no answer: free their slots and send them again."""
        for log_id in self.broker.outstanding_ids():
            mt_id = mt_id_of(log_id)
            if mt_id is not None:
                self._results.put_nowait(("defer", mt_id, "bind lost before the SMSC answered"))
        self.broker.release_all()

    async def _submit(self, row: asyncpg.Record) -> None:
        if row["message_class"] == "marketing":  # the STOP list is checked again at dispatch
            subject = pseudonym(self.settings.pseudonym_key, row["msisdn"])
            if await outbox.opted_out(self.pool, subject, row["brand"]):
                await outbox.fail(self.pool, row["id"], "suppressed: opted out before dispatch")
                return
        await self.throttle.acquire(row["source"], await self._tier(row["source"]))
        msg = SubmitSm(
            short_message=row["body"],
            source=address(row["source"]),
            destination=address(row["msisdn"]),
            esm_class=0x40,  # split with UDH when long (dropped for one part); never the SAR path (aiosmpplib bug)
            auto_message_payload=False,
            encoding=row["encoding"],
            log_id=f"mt:{row['id']}",
            extra_data=str(row["attempts"]),
        )
        await self.esme.broker.enqueue(msg)

    def on_response(self, resp: SubmitSmResp | GenericNack) -> None:
        self.broker.release(resp.log_id)
        mt_id = mt_id_of(resp.log_id)
        if mt_id is None:
            return
        if isinstance(resp, SubmitSmResp) and resp.command_status == SmppCommandStatus.ESME_ROK:
            self._results.put_nowait(("submitted", mt_id, resp.message_id))
        elif resp.command_status in THROTTLED:
            self._results.put_nowait(("defer", mt_id, f"SMSC {resp.command_status.name}"))
        else:
            self._results.put_nowait(("fail", mt_id, f"SMSC {resp.command_status.name}"))

    def on_send_error(self, msg: Any, error: Exception) -> None:
        self.broker.release(getattr(msg, "log_id", ""))
        mt_id = mt_id_of(getattr(msg, "log_id", ""))
        if mt_id is None:
            return
        kind = "fail" if isinstance(error, ValueError) else "defer"  # transport or timeout: try again
        self._results.put_nowait((kind, mt_id, repr(error)))

    async def _result_writer(self) -> None:
        """Apply submit outcomes in batches: one round trip for many rows keeps up with thousands per second."""
        while True:
            try:
                async with asyncio.timeout(UNMATCHED_RETRY_S if self._unmatched else None):
                    batch = [await self._results.get()]
            except TimeoutError:
                batch = []
            while not self._results.empty() and len(batch) < 1000:
                batch.append(self._results.get_nowait())
            try:
                await self._apply_results(batch)
            except (OSError, asyncpg.PostgresError):
                log.exception("could not record submit outcomes; rows stay 'sending' and are re-queued")

    async def _retry_unmatched(self, conn: Conn, now: datetime) -> None:
        """Receipts that matched no submitted MT yet (another worker's MT, its submit not committed when we
        looked) are tried again every ``UNMATCHED_RETRY_S`` for a minute; after that the 30-s sweep has them."""
        cutoff = time.monotonic() - 60.0
        self._unmatched = {i: t for i, t in self._unmatched.items() if t > cutoff}
        if not self._unmatched:
            return
        ids = list(self._unmatched)
        await self._finish(conn, await outbox.apply_receipts(conn, now, ids))
        for smsc_id in await _applied(conn, ids):
            self._unmatched.pop(smsc_id, None)

    async def _apply_results(self, batch: list[tuple[str, int, Any]]) -> None:
        """Submit outcomes and receipts of one batch, in one transaction (submits first: FIFO order)."""
        now = self.clock()
        submitted = [(i, v) for k, i, v in batch if k == "submitted"]
        receipts: list[tuple[str, str]] = [v for k, _, v in batch if k == "receipt"]
        async with self.pool.acquire() as conn, conn.transaction():
            if submitted:
                rows = await conn.fetch(
                    "UPDATE mt_messages m SET status = 'submitted', smsc_message_id = u.smsc_id, submitted_at = $3,"
                    " updated_at = $3 FROM unnest($1::bigint[], $2::text[]) AS u(id, smsc_id)"
                    " WHERE m.id = u.id AND m.status = 'sending' RETURNING m.*",
                    [i for i, _ in submitted],
                    [v for _, v in submitted],
                    now,
                )
                for row in rows:
                    for listener in self.submit_listeners:
                        await listener(conn, row)
            for kind, mt_id, reason in batch:
                if kind == "defer":
                    attempts = await conn.fetchval("SELECT attempts FROM mt_messages WHERE id = $1", mt_id) or 1
                    await outbox.defer(conn, mt_id, now + backoff(attempts), reason)
                elif kind == "fail":
                    await outbox.fail(conn, mt_id, reason)
            if submitted or receipts:
                await outbox.store_receipts(conn, receipts, now)
                ids = [v for _, v in submitted] + [i for i, _ in receipts]
                finished = await outbox.apply_receipts(conn, now, ids)
                await self._finish(conn, finished)
                if len(finished) < len(receipts):
                    matched = await _applied(conn, [i for i, _ in receipts])
                    stamp = time.monotonic()
                    self._unmatched.update({i: stamp for i, _ in receipts if i not in matched})
            await self._retry_unmatched(conn, now)
        if any(k == "defer" for k, _, _ in batch):
            self._wake.set()

    async def _finish(self, conn: Conn, finished: list[tuple[int, str]]) -> None:
        for mt_id, stat in finished:
            for listener in self.receipt_listeners:
                await listener(conn, mt_id, stat)

    async def _on_receipt(self, pdu: DeliverSm) -> None:
        """Queue the receipt for the batched writer: the library acknowledges it as soon as we return.

        A crash in the few milliseconds before the batch commits loses that receipt (its MT stays 'submitted');
        writing each receipt before acknowledging it cost ~5 ms a receipt and capped the pipeline at ~450 MT/s.
        """
        receipt = pdu.parse_receipt()
        smsc_id, stat = str(receipt.get("id", "")), str(receipt.get("stat", ""))
        if not smsc_id or not stat:
            log.warning("receipt without id or stat", text=pdu.short_message)
            return
        self._results.put_nowait(("receipt", 0, (smsc_id, stat)))


async def _applied(conn: Conn, smsc_ids: list[str]) -> set[str]:
    """Which of these receipts are applied to their MT."""
    found = await conn.fetchval(
        "SELECT coalesce(array_agg(smsc_message_id), '{}') FROM mt_receipts"
        " WHERE smsc_message_id = ANY($1::text[]) AND applied_at IS NOT NULL",
        smsc_ids,
    )
    return set(found)
