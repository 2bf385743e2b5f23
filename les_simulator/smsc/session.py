"""One SMPP connection on the SMSC side: framing, bind state, request dispatch and the outbound window."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Final

import structlog
from aiosmpplib import (
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    PduHeader,
    SmppCommand,
    SmppCommandStatus,
    SmppMessage,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)

from les_simulator.smsc.datasm import as_submit_sm, data_sm_resp
from les_simulator.smsc.modes import TokenBucket
from les_simulator.smsc.outbound import Outbound
from les_simulator.smsc.wire import MAX_PDU_LENGTH, PDU_HEADER_LENGTH, MalformedPdu, RawHeader

if TYPE_CHECKING:
    from les_simulator.smsc.server import PduRecord, SmscEmulator

log = structlog.get_logger(__name__)

RESPONSE_BIT: Final = 0x80000000
SEQUENCE_MAX: Final = 0x7FFFFFFF
# How long the SMSC waits for unbind_resp / enquire_link_resp before it just closes.
CONTROL_TIMEOUT_S: Final = 2.0


class BindKind(StrEnum):
    """How an ESME is bound: it submits (transmitter), receives (receiver) or both (transceiver)."""

    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"
    TRANSCEIVER = "transceiver"


BINDS: Final[dict[SmppCommand, tuple[BindKind, type[BindTransceiver], type[BindTransceiverResp]]]] = {
    SmppCommand.BIND_TRANSMITTER: (BindKind.TRANSMITTER, BindTransmitter, BindTransmitterResp),
    SmppCommand.BIND_RECEIVER: (BindKind.RECEIVER, BindReceiver, BindReceiverResp),
    SmppCommand.BIND_TRANSCEIVER: (BindKind.TRANSCEIVER, BindTransceiver, BindTransceiverResp),
}


class CloseConnection(Exception):
    """Stop serving this connection (bad framing, unbind, or a failure mode)."""


Handler = Callable[[PduHeader, bytes, "PduRecord"], Awaitable[None]]


class SmppSession:
    """One ESME connection: reads PDUs, answers them, and sends deliver_sm within its window."""

    def __init__(
        self, smsc: SmscEmulator, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, session_id: int
    ) -> None:
        self.smsc, self.reader, self.writer, self.id = smsc, reader, writer, session_id
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.system_id: str | None = None
        self.kind: BindKind | None = None
        self.submits = 0
        self.outstanding = 0  # requests received and not answered yet
        self.peak_outstanding = 0  # the most ever unanswered at once: the ESME's effective window
        self.bucket: TokenBucket | None = None
        self.closed = False
        self._sequence = itertools.count(1)
        self._window = asyncio.Semaphore(smsc.settings.smsc_window)
        self._in_flight: dict[int, tuple[Outbound, asyncio.TimerHandle]] = {}
        self._waiters: dict[int, asyncio.Future[RawHeader]] = {}
        self._pump: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self.last_heard = time.monotonic()
        self._handlers: dict[SmppCommand, Handler] = {
            SmppCommand.BIND_TRANSMITTER: self._on_bind,
            SmppCommand.BIND_RECEIVER: self._on_bind,
            SmppCommand.BIND_TRANSCEIVER: self._on_bind,
            SmppCommand.UNBIND: self._on_unbind,
            SmppCommand.ENQUIRE_LINK: self._on_enquire_link,
            SmppCommand.SUBMIT_SM: self._on_submit_sm,
            SmppCommand.SUBMIT_MULTI: self._on_submit_multi,
            SmppCommand.DATA_SM: self._on_data_sm,
        }

    # --- state -----------------------------------------------------------------------------------------------
    @property
    def can_transmit(self) -> bool:
        """Bound so that it may submit."""
        return self.kind in (BindKind.TRANSMITTER, BindKind.TRANSCEIVER)

    @property
    def can_receive(self) -> bool:
        """Bound so that it may be sent deliver_sm."""
        return self.kind in (BindKind.RECEIVER, BindKind.TRANSCEIVER) and not self.closed

    def describe(self) -> dict[str, object]:
        """This bind, for the control API."""
        return {
            "session": self.id,
            "system_id": self.system_id,
            "bind": self.kind.value if self.kind else None,
            "peer": self.peer,
            "submits": self.submits,
            "in_flight": len(self._in_flight),
            "outstanding": self.outstanding,
            "peak_outstanding": self.peak_outstanding,
        }

    # --- reading -----------------------------------------------------------------------------------------------
    async def serve(self) -> None:
        """Serve until the ESME leaves, unbinds, or breaks the framing."""
        try:
            while not self.closed:
                header = await self.reader.readexactly(PDU_HEADER_LENGTH)
                raw = RawHeader.unpack(header)
                if not PDU_HEADER_LENGTH <= raw.length <= MAX_PDU_LENGTH:
                    self.smsc.record_pdu(self, raw, header)
                    await self._write(GenericNack(raw.sequence, SmppCommandStatus.ESME_RINVCMDLEN).pdu())
                    break
                pdu = header + await self.reader.readexactly(raw.length - PDU_HEADER_LENGTH)
                self.last_heard = time.monotonic()
                await self._dispatch(raw, pdu)
        except (asyncio.IncompleteReadError, ConnectionError, CloseConnection):
            pass
        finally:
            await self.close()

    async def _dispatch(self, raw: RawHeader, pdu: bytes) -> None:
        record = self.smsc.record_pdu(self, raw, pdu)
        command = raw.command()
        if raw.command_id & RESPONSE_BIT and command is not None:
            self._on_response(raw)
            return
        self.outstanding += 1
        self.peak_outstanding = max(self.peak_outstanding, self.outstanding)
        handler = self._handlers.get(command) if command is not None else None
        if handler is None or command is None:
            await self.respond(GenericNack(raw.sequence, SmppCommandStatus.ESME_RINVCMDID))
            return
        try:
            await handler(raw.pdu_header(command), pdu, record)
        except MalformedPdu as exc:
            record.error = str(exc)
            await self.respond(GenericNack(raw.sequence, exc.status))
        except (CloseConnection, ConnectionError):
            raise
        except Exception as exc:  # a bug of ours must cost one PDU, not the connection or the server
            log.exception("SMSC emulator failed on a PDU", command=command.name, session=self.id)
            record.error = f"internal: {exc!r}"
            await self.respond(GenericNack(raw.sequence, SmppCommandStatus.ESME_RSYSERR))

    # --- requests from the ESME ----------------------------------------------------------------------------------
    async def _on_bind(self, header: PduHeader, pdu: bytes, record: PduRecord) -> None:
        kind, request_cls, response_cls = BINDS[header.smpp_command]
        try:
            bind = request_cls.from_pdu(pdu, header)
        except (ValueError, IndexError, struct.error) as exc:
            raise MalformedPdu(f"undecodable bind: {exc!r}") from exc
        assert isinstance(bind, BindTransceiver)
        record.fields.update(system_id=bind.system_id, bind=kind.value)
        status = self._bind_status(bind)
        log.info("smpp bind", system_id=bind.system_id, bind=kind.value, status=status.name, peer=self.peer)
        await self.respond(
            response_cls(
                header.sequence_num, status, system_id=self.smsc.settings.smsc_system_id, sc_interface_version=0x34
            )
        )
        if status == SmppCommandStatus.ESME_ROK:
            self.system_id, self.kind = bind.system_id, kind
            if self.can_receive:
                self._pump = asyncio.create_task(self._pump_outbound(), name=f"smsc-pump-{self.id}")
            if self.smsc.settings.smsc_enquire_link_s > 0:
                self._keeper = asyncio.create_task(self._keep_alive(), name=f"smsc-keeper-{self.id}")

    def _bind_status(self, bind: BindTransceiver) -> SmppCommandStatus:
        if self.kind is not None:
            return SmppCommandStatus.ESME_RALYBND
        if self.smsc.settings.smsc_accounts.get(bind.system_id) != bind.password:
            return SmppCommandStatus.ESME_RBINDFAIL
        return SmppCommandStatus.ESME_ROK

    async def _on_unbind(self, header: PduHeader, pdu: bytes, record: PduRecord) -> None:
        await self._write(UnbindResp(header.sequence_num).pdu())
        raise CloseConnection

    async def _on_enquire_link(self, header: PduHeader, pdu: bytes, record: PduRecord) -> None:
        await self.respond(EnquireLinkResp(header.sequence_num))

    async def _on_submit_sm(self, header: PduHeader, pdu: bytes, record: PduRecord) -> None:
        if not self.can_transmit:
            await self.respond(SubmitSmResp(header.sequence_num, SmppCommandStatus.ESME_RINVBNDSTS))
            return
        if self._window_full():
            await self.respond(SubmitSmResp(header.sequence_num, SmppCommandStatus.ESME_RMSGQFUL), now=True)
            return
        self.submits += 1
        status, message_id = self.smsc.submit_sm(self, header, pdu, record)
        drop_after = self.smsc.modes.drop_after_n
        if drop_after and self.submits % drop_after == 0:
            record.error = f"drop_connection_after_n={drop_after}: connection dropped, no response"
            self.writer.transport.abort()
            raise CloseConnection
        await self.respond(SubmitSmResp(header.sequence_num, status, message_id=message_id))

    async def _on_submit_multi(self, header: PduHeader, pdu: bytes, record: PduRecord) -> None:
        if not self.can_transmit:
            await self.respond(GenericNack(header.sequence_num, SmppCommandStatus.ESME_RINVBNDSTS))
            return
        if self._window_full():
            await self.respond(GenericNack(header.sequence_num, SmppCommandStatus.ESME_RMSGQFUL), now=True)
            return
        self.submits += 1
        await self.respond(self.smsc.submit_multi(self, header, pdu, record))

    async def _on_data_sm(self, header: PduHeader, pdu: bytes, record: PduRecord) -> None:
        if not self.can_transmit or self._window_full():
            busy = self.can_transmit
            status = SmppCommandStatus.ESME_RMSGQFUL if busy else SmppCommandStatus.ESME_RINVBNDSTS
            await self.respond(data_sm_resp(header.sequence_num, status, ""), now=busy)
            return
        self.submits += 1
        status, message_id = self.smsc.submit_sm(self, *as_submit_sm(pdu, header), record)
        await self.respond(data_sm_resp(header.sequence_num, status, message_id))

    def _window_full(self) -> bool:
        """More requests unanswered than the SMSC takes per bind (``smsc_max_outstanding``, 0: no limit)."""
        limit = self.smsc.settings.smsc_max_outstanding
        return bool(limit) and self.outstanding > limit

    # --- writing -----------------------------------------------------------------------------------------------
    async def respond(self, message: SmppMessage | bytes, now: bool = False) -> None:
        """Answer a request of the ESME, late when the ``slow`` mode is on (unless ``now``)."""
        data = message if isinstance(message, bytes) else message.pdu()
        delay = 0.0 if now else self.smsc.modes.slow_s
        if delay > 0:
            self.smsc.spawn(self._write_later(data, delay))
        else:
            self.outstanding -= 1
            await self._write(data)

    async def _write_later(self, data: bytes, delay: float) -> None:
        await asyncio.sleep(delay)
        self.outstanding -= 1
        with contextlib.suppress(ConnectionError):
            await self._write(data)

    async def _write(self, data: bytes) -> None:
        if self.closed or self.writer.is_closing():
            raise ConnectionResetError("SMPP connection closed")
        self.writer.write(data)
        await self.writer.drain()

    def _next_sequence(self) -> int:
        sequence = next(self._sequence)
        if sequence >= SEQUENCE_MAX:
            self._sequence = itertools.count(1)
        return sequence

    # --- requests to the ESME -------------------------------------------------------------------------------
    async def _pump_outbound(self) -> None:
        """Send the account's queued deliver_sm, never more than the window unanswered."""
        assert self.system_id is not None
        queue = self.smsc.outbound.queue(self.system_id)
        while not self.closed:
            await self._window.acquire()
            item = await queue.get()
            try:
                await self._send_outbound(item)
            except ConnectionError:
                self.smsc.outbound.put(item)
                return
            except Exception:  # a PDU we cannot encode fails alone; the pump carries on
                log.exception("SMSC emulator could not send a deliver_sm", session=self.id)
                self._window.release()
                self.smsc.outbound.settle(item, SmppCommandStatus.ESME_RSYSERR)

    async def _send_outbound(self, item: Outbound) -> None:
        sequence = self._next_sequence()
        data = item.with_sequence(sequence)
        timeout = self.smsc.settings.smsc_response_timeout_s
        timer = asyncio.get_running_loop().call_later(timeout, self._on_timeout, sequence)
        self._in_flight[sequence] = (item, timer)
        try:
            await self._write(data)
        except ConnectionError:
            self._in_flight.pop(sequence, None)
            timer.cancel()
            raise

    def _on_timeout(self, sequence: int) -> None:
        entry = self._in_flight.pop(sequence, None)
        if entry is not None:
            self._window.release()
            self.smsc.outbound.put(entry[0])

    def _on_response(self, raw: RawHeader) -> None:
        waiter = self._waiters.pop(raw.sequence, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(raw)
            return
        entry = self._in_flight.pop(raw.sequence, None)
        if entry is None:
            return  # late or unknown: the request already timed out and was queued again
        item, timer = entry
        timer.cancel()
        self._window.release()
        status = raw.pdu_header(SmppCommand.GENERIC_NACK).command_status
        if raw.command_id == SmppCommand.GENERIC_NACK and status == SmppCommandStatus.ESME_ROK:
            status = SmppCommandStatus.ESME_RSYSERR
        self.smsc.outbound.settle(item, status)

    async def request(self, message: SmppMessage, wait_s: float = CONTROL_TIMEOUT_S) -> RawHeader | None:
        """Send a request outside the window (unbind, enquire_link) and wait for its response."""
        sequence = self._next_sequence()
        message.sequence_num = sequence
        waiter: asyncio.Future[RawHeader] = asyncio.get_running_loop().create_future()
        self._waiters[sequence] = waiter
        try:
            await self._write(message.pdu())
            async with asyncio.timeout(wait_s):
                return await waiter
        except (TimeoutError, ConnectionError):
            return None
        finally:
            self._waiters.pop(sequence, None)

    async def _keep_alive(self) -> None:
        """Like real SMSCs: enquire_link after ``smsc_enquire_link_s`` of silence; no answer, no bind."""
        interval = self.smsc.settings.smsc_enquire_link_s
        while not self.closed:
            await asyncio.sleep(max(0.0, self.last_heard + interval - time.monotonic()))
            if time.monotonic() - self.last_heard < interval:
                continue
            if await self.request(EnquireLink(), wait_s=min(interval, CONTROL_TIMEOUT_S)) is None:
                log.info("smpp bind silent, closing", system_id=self.system_id, peer=self.peer)
                await self.close()

    async def unbind(self) -> None:
        """The SMSC ends the session: unbind, wait briefly for unbind_resp, close."""
        if not self.closed:
            await self.request(Unbind())
            await self.close()

    async def close(self) -> None:
        """Close the connection and give every unanswered deliver_sm back to its account's queue."""
        if self.closed:
            return
        self.closed = True
        for task in (self._pump, self._keeper):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        for item, timer in self._in_flight.values():
            timer.cancel()
            self.smsc.outbound.put(item)
        self._in_flight.clear()
        for waiter in self._waiters.values():
            waiter.cancel()
        self.writer.close()
        self.smsc.session_closed(self)
        if self.kind is not None:
            log.info("smpp bind closed", system_id=self.system_id, bind=self.kind.value, peer=self.peer)
