"""aiosmpplib 0.7.4 made fit for the platform (see ../shared/notes/smpp.md for each bug, measured):

- :class:`LbsDeliverSm`: receipts whose dates carry seconds (``YYMMDDhhmmss``) no longer kill the receiver task.
- :class:`FastCorrelator`: expiry sweeps at most once a second instead of scanning every entry on every
  put/get (the stock O(n) scan caused false timeouts above ~1,000 msg/s); MO parts are reassembled per
  (source, reference), in numeric order, and 16-bit references (IE 0x08, misread by the library) work.
- :class:`WindowedBroker`: at most ``window`` submit_sm outstanding per bind (the library has no window).
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime
from typing import Any

from aiosmpplib import AbstractBroker, DeliverSm
from aiosmpplib.correlator import SimpleCorrelator
from aiosmpplib.protocol import MESSAGE_TYPE_MAP
from aiosmpplib.state import SmppCommand

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
        self._outstanding: set[str] = set()

    async def enqueue(self, message: Any) -> None:
        await self._queue.put(message)

    async def dequeue(self) -> Any:
        await self._window.acquire()
        message = await self._queue.get()
        log_id = getattr(message, "log_id", "")
        if log_id:
            self._outstanding.add(log_id)
        else:
            self._window.release()  # enquire_link and the like are not windowed
        return message

    def release(self, log_id: str) -> None:
        """A response (or an error) for ``log_id`` arrived: free its window slot, once."""
        if log_id in self._outstanding:
            self._outstanding.discard(log_id)
            self._window.release()

    def release_all(self) -> None:
        """The bind dropped: nothing is outstanding any more."""
        for log_id in list(self._outstanding):
            self.release(log_id)

    def outstanding_ids(self) -> list[str]:
        return list(self._outstanding)

    @property
    def outstanding(self) -> int:
        return len(self._outstanding)
