"""aiosmpplib 0.7.4 made fit for the platform: the one module that knows the library and its internals.

Each bug and limit below is described, with measurements, in docs/messaging.md ("aiosmpplib workarounds").

- :class:`Bind`: one transceiver bind (ESME, window, correlator, hook) that speaks the platform's terms: MOs,
  :mod:`lbs.messaging.outcomes` for responses and receipts. Only this module reaches into the ESME's privates
  (:func:`stop_esme`, the socket the library forgets to close on reconnect).
- :class:`LbsDeliverSm`: receipts whose dates carry seconds (``YYMMDDhhmmss``) no longer kill the receiver task.
- :class:`FastCorrelator`: expiry sweeps at most once a second instead of scanning every entry on every
  put/get (the stock O(n) scan caused false timeouts above ~1,000 msg/s); MO parts are reassembled per
  (source, reference), in numeric order, and 16-bit references (IE 0x08, misread by the library) work.
- :class:`WindowedBroker`: at most ``window`` submit_sm outstanding per bind (the library has no window).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from datetime import datetime, timedelta
from typing import Any, Protocol

import asyncpg
import structlog
from aiosmpplib import (
    ESME,
    NPI,
    TON,
    AbstractBroker,
    AbstractHook,
    DeliverSm,
    GenericNack,
    PhoneNumber,
    SmppSessionState,
    SubmitSm,
    SubmitSmResp,
)
from aiosmpplib.correlator import SimpleCorrelator
from aiosmpplib.protocol import MESSAGE_TYPE_MAP
from aiosmpplib.state import SmppCommand

from lbs.messaging.outcomes import Deferred, MtRef, Outcome, Receipt, of_response, of_send_error
from lbs.msisdn import is_short_code, to_e164
from lbs.settings import Settings

log = structlog.get_logger(__name__)

# Receipt dates: 10 digits (YYMMDDhhmm, SMPP 3.4 appendix B) or 12 (with seconds, common in practice).
_RECEIPT_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err|text):", re.IGNORECASE)
SWEEP_INTERVAL_S = 1.0


def parse_receipt_text(text: str) -> dict[str, str | int | datetime]:
    """The fields of a receipt text; dates with or without seconds; unknown or broken fields are skipped."""
    matches = list(_RECEIPT_FIELD.finditer(text))
    out: dict[str, str | int | datetime] = {}
    for i, m in enumerate(matches):
        key = m[1].lower()
        end = len(text) if key == "text" or i + 1 == len(matches) else matches[i + 1].start()
        value = text[m.end() : end].strip()
        if key in ("sub", "dlvrd", "err"):
            if value.isdigit():
                out[key] = int(value)
        elif key in ("submit date", "done date"):
            fmt = "%y%m%d%H%M%S" if len(value) == 12 else "%y%m%d%H%M"
            try:
                out[key] = datetime.strptime(value, fmt)  # receipts carry the SMSC's local time
            except ValueError:
                continue
        else:
            out[key] = value
    return out


class LbsDeliverSm(DeliverSm):  # type: ignore[misc]  # aiosmpplib ships no type information
    """DeliverSm whose receipt parsing tolerates seconds in dates (library bug 3)."""

    def parse_receipt(self) -> dict[str, str | int | datetime]:
        if not self.is_receipt():
            return {}
        parsed = parse_receipt_text(self.short_message or self.message_payload)
        if "id" not in parsed:
            for param in self.optional_params or []:
                if param.tag == 0x001E:  # receipted_message_id
                    parsed["id"] = str(param.value)
        return parsed


def install() -> None:
    """Make the library build :class:`LbsDeliverSm` for every incoming deliver_sm (idempotent, process-wide)."""
    MESSAGE_TYPE_MAP[SmppCommand.DELIVER_SM] = LbsDeliverSm


class FastCorrelator(SimpleCorrelator):  # type: ignore[misc]
    """SimpleCorrelator with amortised expiry and correct MO reassembly."""

    def __init__(self, name: str, max_ttl_response: float = 15.0, max_ttl_delivery: float = 259_200.0) -> None:
        super().__init__(name, "", max_ttl_response, max_ttl_delivery)
        self._last_sweep = 0.0
        self._mo_parts: dict[tuple[str, int, int], tuple[float, dict[int, str]]] = {}

    async def _remove_expired(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep < SWEEP_INTERVAL_S:
            return
        self._last_sweep = now
        await super()._remove_expired()
        stale = [k for k, (at, _) in self._mo_parts.items() if now - at > self.max_ttl_delivery]
        for key in stale:
            del self._mo_parts[key]

    async def put_delivery_segmented(self, deliver_sm: DeliverSm) -> DeliverSm | None:
        ref, seq, total = deliver_sm.get_segmentation_data()
        if ref > 0xFFFF:  # 16-bit reference misread as 32 bits: ref_hi ref_lo total seq
            ref >>= 16
        key = (deliver_sm.source.number, ref, total)
        _, parts = self._mo_parts.get(key, (0.0, {}))
        parts[seq] = deliver_sm.short_message or deliver_sm.message_payload
        self._mo_parts[key] = (time.monotonic(), parts)
        if len(parts) < total:
            return None
        del self._mo_parts[key]
        text = "".join(parts[i] for i in sorted(parts))
        if deliver_sm.short_message:
            deliver_sm.short_message = text
        else:
            deliver_sm.message_payload = text
        return deliver_sm


class WindowedBroker(AbstractBroker):  # type: ignore[misc]
    """An in-memory queue that lets at most ``window`` messages be outstanding (sent, not yet answered)."""

    def __init__(self, window: int) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._window = asyncio.Semaphore(window)
        self._outstanding: dict[str, str] = {}  # log_id -> extra_data of each message on the wire

    async def enqueue(self, message: Any) -> None:
        await self._queue.put(message)

    async def dequeue(self) -> Any:
        await self._window.acquire()
        message = await self._queue.get()
        log_id = getattr(message, "log_id", "")
        if log_id:
            self._outstanding[log_id] = getattr(message, "extra_data", "")
        else:
            self._window.release()  # enquire_link and the like are not windowed
        return message

    def release(self, log_id: str) -> None:
        """A response (or an error) for ``log_id`` arrived: free its window slot, once."""
        if self._outstanding.pop(log_id, None) is not None:
            self._window.release()

    def release_all(self) -> list[tuple[str, str]]:
        """The bind dropped: nothing is outstanding any more. Returns what was (log_id, extra_data)."""
        gone = list(self._outstanding.items())
        for log_id, _ in gone:
            self.release(log_id)
        return gone

    @property
    def outstanding(self) -> int:
        return len(self._outstanding)


# --- the bind -----------------------------------------------------------------------------------------------------

ENQUIRE_LINK_INTERVAL_S = 30.0  # aiosmpplib requires floats
# Receipts are matched to MTs in PostgreSQL by SMSC id; the library's own receipt correlation is only kept briefly
# (it serves concatenated MTs whose parts' receipts come back to the same bind).
RECEIPT_CORRELATION_S = 30.0
UNBIND_GRACE_S = 1.0  # how long a stopping bind waits for the SMSC to take its unbind


def address(number: str) -> PhoneNumber:
    """An SMPP address: short codes as they are, alphanumeric OADCs as such, MSISDNs as international digits."""
    if is_short_code(number):
        return PhoneNumber(number, TON.NETWORK_SPECIFIC, NPI.UNKNOWN)
    if not number.lstrip("+").isdigit():
        return PhoneNumber(number, TON.ALPHANUMERIC, NPI.UNKNOWN)
    return PhoneNumber(to_e164(number).lstrip("+"), TON.INTERNATIONAL, NPI.ISDN)


def submit_sm_of(row: asyncpg.Record, validity: timedelta) -> SubmitSm:
    """The submit_sm of one claimed outbox row; its log_id and extra_data name the claim (:class:`MtRef`)."""
    ref = MtRef(int(row["id"]), int(row["attempts"]))
    return SubmitSm(
        short_message=row["body"],
        source=address(row["source"]),
        destination=address(row["msisdn"]),
        esm_class=0x40,  # split with UDH when long (dropped for one part); never the SAR path (aiosmpplib bug)
        auto_message_payload=False,
        encoding=row["encoding"],
        validity_period=validity,  # the SMSC gives up then; our expiry sweep resolves the row a little later
        log_id=ref.log_id,
        extra_data=str(ref.attempt),
    )


async def stop_esme(esme: ESME) -> None:
    """Unbind and end the ESME's tasks now, and close its socket.

    ``ESME.stop()`` (aiosmpplib 0.7.4) gives each of its tasks a 0.5 s grace period and waits for the SMSC
    to close the connection; a server stop (and every test) would pay a second or more. We reach into the
    pinned version's internals instead: stop reconnecting, unbind, cancel its tasks at once; then close the
    socket, which the library only ``write_eof()``s (else a ResourceWarning).
    """
    esme._is_shutting_down = True
    writer = getattr(esme, "_writer", None)
    if esme.session_state != SmppSessionState.CLOSED:
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(UNBIND_GRACE_S):
                await esme._disconnect()
    for task in asyncio.all_tasks():
        frame = getattr(task.get_coro(), "cr_frame", None)
        if frame is not None and frame.f_locals.get("self") is esme and task is not asyncio.current_task():
            task.cancel()
    if writer is not None:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


class BindEvents(Protocol):
    """What a :class:`Bind` tells its owner."""

    async def on_mo(self, pdu: DeliverSm) -> None:
        """An MO (not a receipt). Return only once it is stored: the library acknowledges it when this returns."""

    def on_outcome(self, outcome: Outcome) -> None:
        """A submit result or a receipt, to be recorded."""


class MoNotStored(ConnectionError):
    """Raised into the library when an MO could not be stored: it drops the bind instead of acknowledging, so
    the SMSC keeps the MO and delivers it again after the rebind. (Any other exception type would end the
    library's connect loop for good.)"""


class _Hook(AbstractHook):  # type: ignore[misc]  # aiosmpplib ships no type information
    def __init__(self, bind: Bind) -> None:
        self.bind = bind

    async def sending(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
        return None

    async def received(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
        if isinstance(smpp_message, DeliverSm):
            await self.bind.delivered(smpp_message)
        elif isinstance(smpp_message, SubmitSmResp | GenericNack):
            self.bind.answered(smpp_message)

    async def send_error(self, smpp_message: Any, error: Exception, client_id: str) -> None:
        self.bind.errored(smpp_message, error)


class Bind:
    """One transceiver bind of the platform's SMPP account, with a window of ``smpp_window`` submits."""

    def __init__(self, settings: Settings, events: BindEvents) -> None:
        install()
        self.events = events
        self.window = settings.smpp_window
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
        self._was_bound = False
        self._writer: Any = None

    @property
    def bound(self) -> bool:
        return bool(self.esme.session_state == SmppSessionState.BOUND_TRX)

    @property
    def free(self) -> int:
        """Window slots free now: submits that may go without waiting for a response."""
        return self.window - self.broker.outstanding

    async def run(self) -> None:
        """Connect, bind and reconnect forever (the library's loop); supervised by the owner."""
        self.esme._is_shutting_down = False  # a restart after a crash of the loop binds again
        await self.esme.start()

    async def submit(self, message: SubmitSm) -> None:
        """Hand one submit_sm to the library's sender (it waits for a window slot there)."""
        await self.broker.enqueue(message)

    def check(self) -> None:
        """Poll (the dispatcher, before each claim): when the bind dropped since the last call, the submits in
        flight will get no answer: free their window slots and defer them (sent again after the rebind).

        Also closes the old socket, which aiosmpplib 0.7.4 drops on reconnect without closing (fd leak).
        """
        bound = self.bound
        if self._was_bound and not bound:
            for log_id, extra_data in self.broker.release_all():
                ref = MtRef.of(log_id, extra_data)
                if ref is not None:
                    self.events.on_outcome(Deferred(ref, "bind lost before the SMSC answered"))
            if self._writer is not None:
                self._writer.close()
            self._writer = None
        elif bound and self._writer is None:
            self._writer = getattr(self.esme, "_writer", None)
        self._was_bound = bound

    async def stop(self) -> None:
        await stop_esme(self.esme)

    async def delivered(self, pdu: DeliverSm) -> None:
        if pdu.is_receipt():
            self._receipt(pdu)
            return
        try:
            await self.events.on_mo(pdu)
        except Exception as exc:
            log.warning("mo not stored: dropping the bind so the SMSC delivers it again", error=repr(exc))
            raise MoNotStored(repr(exc)) from exc

    def _receipt(self, pdu: DeliverSm) -> None:
        receipt = pdu.parse_receipt()
        smsc_id, stat = str(receipt.get("id", "")), str(receipt.get("stat", ""))
        if not smsc_id or not stat:
            log.warning("receipt without id or stat", text=pdu.short_message)
            return
        self.events.on_outcome(Receipt(smsc_id, stat))

    def answered(self, resp: SubmitSmResp | GenericNack) -> None:
        self.broker.release(resp.log_id)
        smsc_id = resp.message_id if isinstance(resp, SubmitSmResp) else ""
        outcome = of_response(resp.log_id, resp.extra_data, resp.command_status, smsc_id)
        if outcome is not None:
            self.events.on_outcome(outcome)

    def errored(self, message: Any, error: Exception) -> None:
        log_id = getattr(message, "log_id", "")
        self.broker.release(log_id)
        outcome = of_send_error(log_id, getattr(message, "extra_data", ""), error)
        if outcome is not None:
            self.events.on_outcome(outcome)
