"""The platform's SMPP side: one aiosmpplib ESME (transceiver) per account, MO in, MT out, receipts.

This is the walking-skeleton core: MOs go to the keyword router and replies are submitted straight to the
bind. The durable outbox, windowing and throughput tiers come with the messaging issue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import structlog
from aiosmpplib import ESME, NPI, TON, AbstractHook, DeliverSm, PhoneNumber, SmppSessionState, SubmitSm, SubmitSmResp

from lbs.errors import InvalidArgument
from lbs.messaging.router import Mo
from lbs.msisdn import is_short_code, to_e164
from lbs.settings import Settings

log = structlog.get_logger(__name__)

MoCallback = Callable[[Mo], Coroutine[Any, Any, None]]

# aiosmpplib requires floats; a bind that sees nothing for this long sends enquire_link.
ENQUIRE_LINK_INTERVAL_S = 30.0


def address(number: str) -> PhoneNumber:
    """An SMPP address: short codes as they are, MSISDNs as international digits (TON 1, NPI 1)."""
    if is_short_code(number):
        return PhoneNumber(number, TON.NETWORK_SPECIFIC, NPI.UNKNOWN)
    return PhoneNumber(to_e164(number).lstrip("+"), TON.INTERNATIONAL, NPI.ISDN)


def mo_from_deliver_sm(pdu: DeliverSm) -> Mo:
    """Turn an incoming deliver_sm into an :class:`Mo` (source normalised to E.164)."""
    text = pdu.short_message or pdu.message_payload
    return Mo(
        source=to_e164(pdu.source.number),
        destination=pdu.destination.number,
        text=text,
        received_at=datetime.now(UTC),
        message_id=pdu.log_id,
    )


class _Hook(AbstractHook):  # type: ignore[misc]  # aiosmpplib ships no type information
    def __init__(self, core: MessagingCore) -> None:
        self.core = core

    async def sending(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
        return None

    async def received(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
        if isinstance(smpp_message, DeliverSm):
            self.core.on_deliver_sm(smpp_message)
        elif isinstance(smpp_message, SubmitSmResp):
            self.core.on_submit_resp(smpp_message)

    async def send_error(self, smpp_message: Any, error: Exception, client_id: str) -> None:
        log.warning("mt send error", error=repr(error), log_id=getattr(smpp_message, "log_id", ""))


class MessagingCore:
    """Owns the bind; hands each MO to ``on_mo`` in its own task and submits MTs."""

    def __init__(self, settings: Settings, on_mo: MoCallback) -> None:
        self.settings = settings
        self.on_mo = on_mo
        self.esme = ESME(
            settings.smsc_host,
            settings.smsc_port,
            settings.smpp_system_id,
            settings.smpp_password,
            client_id=f"lbs-{settings.smpp_system_id}",
            enquire_link_interval=ENQUIRE_LINK_INTERVAL_S,
            log_level=logging.WARNING,
            hook=_Hook(self),
        )
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._mt_seq = 0
        self.submitted: dict[str, str] = {}  # log_id -> SMSC message id

    @property
    def bound(self) -> bool:
        return bool(self.esme.session_state == SmppSessionState.BOUND_TRX)

    async def start(self) -> None:
        self._runner = asyncio.create_task(self.esme.start(), name="esme")

    async def wait_bound(self, within_s: float = 10.0) -> None:
        """Wait until the bind is up; TimeoutError after ``within_s``."""
        async with asyncio.timeout(within_s):
            while not self.bound:
                await asyncio.sleep(0.02)  # noqa: ASYNC110 - the ESME exposes no public bind event

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # aiosmpplib 0.7.4 only write_eof()s its socket on stop; we close it ourselves (else ResourceWarning).
        writer = getattr(self.esme, "_writer", None)
        if self.bound:
            await self.esme.stop()
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def on_deliver_sm(self, pdu: DeliverSm) -> None:
        if pdu.is_receipt():
            return  # receipts update MT status once the outbox exists
        try:
            mo = mo_from_deliver_sm(pdu)
        except InvalidArgument as exc:
            log.warning("mo refused", reason=exc.message, source=pdu.source.number)
            return
        task: asyncio.Task[None] = asyncio.create_task(self.on_mo(mo), name=f"mo-{mo.source}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def on_submit_resp(self, resp: SubmitSmResp) -> None:
        if resp.log_id:
            self.submitted[resp.log_id] = resp.message_id

    async def send_mt(self, to: str, text: str, *, source: str | None = None) -> str:
        """Submit ``text`` to ``to``; long text goes as UDH-concatenated parts. Returns the MT's log id."""
        self._mt_seq += 1
        log_id = f"mt-{self._mt_seq}"
        msg = SubmitSm(
            short_message=text,
            source=address(source or self.settings.short_code),
            destination=address(to),
            esm_class=0x40,  # split with UDH when long (dropped for one part); never the SAR path (aiosmpplib bug)
            auto_message_payload=False,
            log_id=log_id,
        )
        await self.esme.broker.enqueue(msg)
        return log_id
