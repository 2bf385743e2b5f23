"""The SMSC emulator: an SMPP 3.4 server with simulated handsets, built on aiosmpplib's PDU classes.

``SmscEmulator(settings)`` holds the accounts (``smsc_accounts``), the short-code routes (``smsc_routes``),
the handsets' inboxes, the failure modes and a log of every PDU received. ``await start()`` opens the SMPP
listener; the control API (``control.py``) drives it over HTTP; tests may also call it directly.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import random
import secrets
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmpplib import TON, PduHeader, SmppCommand, SmppCommandStatus, SubmitSm

from les_simulator.errors import InvalidArgument, NotFound, ServiceUnavailable
from les_simulator.msisdn import is_short_code, to_e164
from les_simulator.settings import SmscSettings
from les_simulator.smsc import store
from les_simulator.smsc.delivery import Delivery, DeliveryStore
from les_simulator.smsc.handsets import HANDSET_OUTCOMES, HandsetRegistry, HandsetState, MtPart
from les_simulator.smsc.mo import mo_pdus
from les_simulator.smsc.modes import FailureModes, ReceiptStat, TokenBucket
from les_simulator.smsc.multi import LIST_PREFIX, parse_submit_multi, submit_multi_resp
from les_simulator.smsc.outbound import Outbound, OutboundQueues
from les_simulator.smsc.receipts import receipt_pdu, wants_receipt
from les_simulator.smsc.session import SmppSession
from les_simulator.smsc.stats import SubmitStats
from les_simulator.smsc.wire import RawHeader, concat_of, decode_sm, parse_data_coding, scan_sm

OK = SmppCommandStatus.ESME_ROK
# phonenumbers costs ~50 µs a parse; a bench resends to the same few thousand handsets.
msisdn_of = functools.lru_cache(maxsize=65_536)(to_e164)


@dataclass(eq=False)
class PduRecord:
    """One PDU the SMSC received, kept for assertions (``GET /sim/pdus``)."""

    at: datetime
    session: int
    system_id: str | None
    command_id: int
    status: int
    sequence: int
    raw: bytes
    fields: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def command(self) -> str:
        """The command's SMPP name (``submit_sm``), or its id in hex if it is not an SMPP 3.4 command."""
        try:
            return str(SmppCommand(self.command_id).name).lower()
        except ValueError:
            return f"0x{self.command_id:08X}"

    def to_json(self, with_hex: bool = True) -> dict[str, Any]:
        """The control API's view."""
        body = {
            "at": self.at.isoformat(),
            "session": self.session,
            "system_id": self.system_id,
            "command": self.command,
            "command_id": self.command_id,
            "command_status": self.status,
            "sequence_num": self.sequence,
            "length": len(self.raw),
            **self.fields,
            "error": self.error,
        }
        if with_hex:
            body["hex"] = self.raw.hex()
        return body


@dataclass(eq=False)
class MoRecord:
    """An MO a handset sent, and how far it got: ``queued`` -> ``delivered`` (every part acknowledged)."""

    id: str
    msisdn: str
    short_code: str
    text: str
    system_id: str
    parts: int
    created_at: datetime
    acked: int = 0
    status: str = "queued"
    errors: list[str] = field(default_factory=list)
    delivered_at: datetime | None = None

    def settle(self, item: Outbound, status: SmppCommandStatus) -> None:
        """One part answered for good."""
        if status != OK:
            self.status = "failed"
            self.errors.append(status.name)
            return
        self.acked += 1
        if self.acked == self.parts and self.status != "failed":
            self.status, self.delivered_at = "delivered", datetime.now(UTC)

    def to_json(self) -> dict[str, Any]:
        """The control API's view."""
        return {
            "id": self.id,
            "from": self.msisdn,
            "to": self.short_code,
            "text": self.text,
            "system_id": self.system_id,
            "segments": self.parts,
            "status": self.status,
            "errors": self.errors,
            "created_at": self.created_at.isoformat(),
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
        }


class SmscEmulator:
    """An SMSC that ESMEs bind to over SMPP 3.4, with simulated handsets behind it."""

    def __init__(self, settings: SmscSettings | None = None) -> None:
        self.settings = settings or SmscSettings()
        self.handsets = HandsetRegistry(self.settings.smsc_inbox_size)
        self.modes = FailureModes()
        self.stats = SubmitStats()
        self.pdus: deque[PduRecord] = deque(maxlen=self.settings.smsc_pdu_log_size)
        self.sessions: set[SmppSession] = set()
        self.mos: dict[str, MoRecord] = {}
        self.outbound = OutboundQueues(self.settings.smsc_retry_s)
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.deliveries = DeliveryStore(self._finish_mt, self._is_absent)
        self._session_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._mo_refs = itertools.count(1)
        self._mo_ids = itertools.count(1)
        self._id_prefix = secrets.token_hex(3)  # message ids stay unique across emulator restarts
        self._random = random.Random(self.settings.smsc_seed)
        self._account_buckets: dict[str, TokenBucket] = {}

    # --- lifecycle -----------------------------------------------------------------------------------------------
    async def start(self, host: str | None = None, port: int | None = None) -> int:
        """Open the SMPP listener (``port=0``: any free port) and return the bound port."""
        listen_port = self.settings.smsc_port if port is None else port
        self._server = await asyncio.start_server(self._on_connect, host or self.settings.smsc_host, listen_port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._load_store()
        self.deliveries.resume(self.settings.smsc_dlr_delay_s)
        return self.port

    def _load_store(self) -> None:
        if self.settings.smsc_store_path:
            deliveries, items = store.load(Path(self.settings.smsc_store_path))
            self.deliveries.add_suspended(deliveries)
            for item in items:
                self.outbound.put(item)

    def _drop_store(self) -> None:
        if self.settings.smsc_store_path:
            Path(self.settings.smsc_store_path).unlink(missing_ok=True)

    def _save_store(self) -> None:
        if self.settings.smsc_store_path:
            path = Path(self.settings.smsc_store_path)
            store.save(path, self.deliveries.take_suspended(), self.outbound.take_all())

    async def restart(self, down_s: float = 0.0, keep_store: bool = True) -> int:
        """Stop, stay down ``down_s`` seconds, start again on the same port.

        With ``keep_store`` (like a real SMSC) accepted MTs still reach their handsets and their receipts and
        queued MOs still go out once ESMEs rebind; without it the SMSC comes back empty, as after a crash
        that lost its disk.
        """
        await self.stop()
        if not keep_store:
            self.deliveries.forget_suspended()
            self.outbound = OutboundQueues(self.settings.smsc_retry_s)
            self._drop_store()
        await asyncio.sleep(down_s)
        return await self.start(port=self.port)

    async def stop(self) -> None:
        """Close every connection and the listener, abruptly, like a crashing SMSC."""
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            await session.close()
        self.deliveries.suspend()
        self.outbound.close()
        self._save_store()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as a task the emulator cancels on stop."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = SmppSession(self, reader, writer, next(self._session_ids))
        self.sessions.add(session)
        self.spawn(session.serve())

    def session_closed(self, session: SmppSession) -> None:
        """A connection ended."""
        self.sessions.discard(session)

    def binds(self, system_id: str | None = None) -> list[SmppSession]:
        """Bound sessions (of one account, if given)."""
        return [s for s in self.sessions if s.kind and (system_id is None or s.system_id == system_id)]

    async def unbind_all(self) -> int:
        """The ``unbind`` failure mode: the SMSC unbinds every ESME (they reconnect). Returns how many."""
        binds = self.binds()
        await asyncio.gather(*(session.unbind() for session in binds))
        return len(binds)

    # --- the PDU log ---------------------------------------------------------------------------------------------
    def record_pdu(self, session: SmppSession, raw: RawHeader, pdu: bytes) -> PduRecord:
        """Log one received PDU."""
        record = PduRecord(
            datetime.now(UTC), session.id, session.system_id, raw.command_id, raw.status, raw.sequence, pdu
        )
        self.pdus.append(record)
        return record

    # --- MT ------------------------------------------------------------------------------------------------------
    def submit_sm(
        self, session: SmppSession, header: PduHeader, pdu: bytes, record: PduRecord
    ) -> tuple[SmppCommandStatus, str]:
        """Accept (or refuse) one submit_sm; on acceptance its delivery and receipt are scheduled."""
        scan = scan_sm(pdu)
        concat = concat_of(scan)
        message = decode_sm(pdu, header, scan)
        coding = parse_data_coding(scan.data_coding)
        record.fields.update(
            source=message.source.number,
            destination=message.destination.number,
            text=message.short_message or message.message_payload,
            data_coding=scan.data_coding,
            esm_class=scan.esm_class,
            registered_delivery=message.registered_delivery,
            flash=coding.flash,
            payload=not scan.short_message,
            concat=None if concat is None else [concat.ref, concat.total, concat.seq, concat.ref_bits],
        )
        status, recipient = self._admit(session, message)
        self.stats.add(session.system_id or "", message.source.number, status)
        if status != OK:
            return status, ""
        part = MtPart(
            message_id=self._next_message_id(),
            system_id=session.system_id or "",
            sender=message.source.number,
            recipient=recipient,
            text=message.short_message or message.message_payload,
            coding=coding,
            concat=concat,
            submitted_at=datetime.now(UTC),
            payload=not scan.short_message,
        )
        expires_at = self._expiry(message.validity_period, part.submitted_at)
        delivery = Delivery(part, self._outcome(recipient), message.registered_delivery, expires_at)
        self.deliveries.schedule(delivery, self._delivery_delay())
        return OK, part.message_id

    def submit_multi(self, session: SmppSession, header: PduHeader, pdu: bytes, record: PduRecord) -> bytes:
        """submit_multi: one submit per destination; the response lists the ones that failed."""
        destinations, rebuild = parse_submit_multi(pdu, header)
        failed: list[tuple[str, SmppCommandStatus]] = []
        message_id = ""
        for destination in destinations:
            if destination.startswith(LIST_PREFIX):
                failed.append((destination, SmppCommandStatus.ESME_RINVDLNAME))
                continue
            status, message_id_one = self.submit_sm(session, *rebuild(destination), record)
            if status == OK:
                message_id = message_id or message_id_one
            else:
                failed.append((destination, status))
        status = OK if message_id else (failed[0][1] if failed else SmppCommandStatus.ESME_RINVNUMDESTS)
        record.fields.update(destinations=destinations, failed=[name for name, _ in failed])
        return submit_multi_resp(header.sequence_num, status, message_id, failed)

    def _admit(self, session: SmppSession, message: SubmitSm) -> tuple[SmppCommandStatus, str]:
        """Failure modes, per-account and per-bind rates, the sender, the recipient (E.164), in that order."""
        if self.modes.reject_status is not None:
            return self.modes.reject_status, ""
        if not self._within_rates(session):
            return SmppCommandStatus.ESME_RTHROTTLED, ""
        source = message.source
        owner = self.settings.smsc_routes.get(source.number)
        if source.ton != TON.ALPHANUMERIC and is_short_code(source.number) and owner not in (None, session.system_id):
            return SmppCommandStatus.ESME_RINVSRCADR, ""
        try:
            return OK, msisdn_of(message.destination.number)
        except InvalidArgument:
            return SmppCommandStatus.ESME_RINVDSTADR, ""

    def _within_rates(self, session: SmppSession) -> bool:
        system_id = session.system_id or ""
        account_tps = self.settings.smsc_account_tps.get(system_id)
        if account_tps is not None:
            bucket = self._account_buckets.get(system_id)
            if bucket is None or bucket.rate != account_tps:
                bucket = self._account_buckets[system_id] = TokenBucket(account_tps)
            if not bucket.take():
                return False
        bind_tps = self.modes.throttle_tps
        if bind_tps is None:
            return True
        if session.bucket is None or session.bucket.rate != bind_tps:
            session.bucket = TokenBucket(bind_tps)
        return session.bucket.take()

    def _next_message_id(self) -> str:
        return f"{self._id_prefix}{next(self._message_ids):08x}"

    def _delivery_delay(self) -> float:
        return self.modes.dlr_delay_s if self.modes.dlr_delay_s is not None else self.settings.smsc_dlr_delay_s

    def _expiry(self, validity: datetime | timedelta | None, submitted_at: datetime) -> datetime:
        """When an undeliverable part gives up: its validity_period, else the SMSC default."""
        if isinstance(validity, datetime):
            return validity
        return submitted_at + (validity or timedelta(seconds=self.settings.smsc_validity_s))

    def _is_absent(self, msisdn: str) -> bool:
        return self.handsets.states.get(msisdn) == "absent"

    def set_handset_state(self, msisdn: str, state: HandsetState) -> int:
        """Switch a handset; switching it ``on`` delivers what the SMSC held for it. Returns that count."""
        self.handsets.set_state(msisdn, state)
        return self.deliveries.release(msisdn) if state == "on" else 0

    def _outcome(self, recipient: str) -> ReceiptStat:
        state = self.handsets.states.get(recipient)
        if state in HANDSET_OUTCOMES:
            return HANDSET_OUTCOMES[state]
        if self.modes.dlr_fail_ratio > 0 and self._random.random() < self.modes.dlr_fail_ratio:
            return self.modes.dlr_fail_stat
        return "DELIVRD"

    def _finish_mt(self, delivery: Delivery, stat: ReceiptStat) -> None:
        """The handset got the part (or not), and the receipt goes back if the ESME asked for it."""
        part = delivery.part
        now = datetime.now(UTC)
        if stat == "DELIVRD":
            self.handsets.get(part.recipient).receive(part, now)
        if wants_receipt(delivery.registered_delivery, stat):
            seconds = self.settings.smsc_dlr_seconds or self.modes.dlr_seconds
            receipt = receipt_pdu(part, stat, now, seconds)
            self.outbound.put(Outbound.of(part.system_id, receipt))

    # --- MO ------------------------------------------------------------------------------------------------------
    def send_mo(self, msisdn: str, short_code: str, text: str, ref_bits: int = 8) -> MoRecord:
        """A handset sends ``text`` to ``short_code``: queue its deliver_sm for the account owning the code.

        Raises :class:`NotFound` for a short code no account owns, :class:`ServiceUnavailable` when that
        account has no receiver or transceiver bind (a real SMSC would store it; the demo wants to know).
        """
        system_id = self.settings.smsc_routes.get(short_code)
        if system_id is None:
            raise NotFound(f"no account owns short code {short_code}", code="UNKNOWN_SHORT_CODE")
        ref = next(self._mo_refs) % (0x10000 if ref_bits == 16 else 0x100)
        pdus = mo_pdus(msisdn, short_code, text, ref, ref_bits)
        if not any(session.can_receive for session in self.binds(system_id)):
            raise ServiceUnavailable(f"no ESME of {system_id!r} is bound to receive for {short_code}", code="NO_BIND")
        mo_id = f"mo-{self._id_prefix}-{next(self._mo_ids)}"
        mo = MoRecord(mo_id, msisdn, short_code, text, system_id, len(pdus), datetime.now(UTC))
        self.mos[mo.id] = mo
        if len(self.mos) > self.settings.smsc_pdu_log_size:
            del self.mos[next(iter(self.mos))]  # forget the oldest, like the PDU log
        for pdu in pdus:
            self.outbound.put(Outbound.of(system_id, pdu, on_settled=mo.settle))
        return mo

    # --- introspection -------------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """Listener, binds, queues and modes, for ``GET /sim/health``."""
        return {
            "status": "ok" if self._server is not None else "stopped",
            "port": self.port,
            "binds": [session.describe() for session in self.binds()],
            "outbound_waiting": self.outbound.waiting(),
            "pending_deliveries": sum(self.deliveries.pending().values()),
            "deliveries": self.deliveries.pending(),
            "pdus_logged": len(self.pdus),
            "modes": self.modes.to_json(),
        }

    def reset(self) -> None:
        """Forget inboxes, the PDU log and MOs, and go back to ``happy`` (binds stay)."""
        self.handsets.clear()
        self.pdus.clear()
        self.mos.clear()
        self.modes.reset()
        self.stats.clear()
