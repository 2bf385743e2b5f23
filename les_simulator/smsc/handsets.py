"""Simulated handsets: each MSISDN has an inbox of MTs, reassembled from their concatenated parts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from les_simulator.smsc.modes import ReceiptStat
from les_simulator.smsc.wire import Concat, DataCoding

HandsetState = Literal["on", "absent", "unknown", "barred"]
# What becomes of an MT to a handset in a failing state. "absent" (switched off, out of coverage) is not here:
# the SMSC holds the MT until the handset is back ("on") or the validity period runs out (EXPIRED).
HANDSET_OUTCOMES: Final[dict[str, ReceiptStat]] = {
    "unknown": "UNDELIV",  # no such subscriber
    "barred": "REJECTD",  # the operator refuses delivery
}

ENCODING_NAMES = {0x00: "gsm0338", 0x01: "ascii", 0x03: "latin_1", 0x08: "ucs2"}


@dataclass(frozen=True, slots=True)
class MtPart:
    """One submit_sm the SMSC accepted: a whole MT, or one part of a concatenated one."""

    message_id: str
    system_id: str
    sender: str
    recipient: str
    text: str
    coding: DataCoding
    concat: Concat | None
    submitted_at: datetime
    payload: bool = False  # text came in the message_payload TLV


@dataclass(frozen=True, slots=True)
class InboxMessage:
    """An MT as the subscriber sees it: all its parts joined."""

    sender: str
    recipient: str
    text: str
    received_at: datetime
    message_ids: tuple[str, ...]
    coding: DataCoding
    system_id: str
    payload: bool

    def to_json(self) -> dict[str, Any]:
        """The control API's view (``message_id`` is the first part's SMSC id; ``message_ids`` all of them)."""
        return {
            "from": self.sender,
            "to": self.recipient,
            "text": self.text,
            "received_at": self.received_at.isoformat(),
            "message_id": self.message_ids[0],
            "message_ids": list(self.message_ids),
            "segments": len(self.message_ids),
            "encoding": ENCODING_NAMES.get(self.coding.alphabet, f"0x{self.coding.alphabet:02X}"),
            "data_coding": self.coding.value,
            "flash": self.coding.flash,
            "message_class": self.coding.message_class,
            "payload": self.payload,
            "system_id": self.system_id,
        }


def _join(parts: list[MtPart], at: datetime) -> InboxMessage:
    first = parts[0]
    return InboxMessage(
        sender=first.sender,
        recipient=first.recipient,
        text="".join(part.text for part in parts),
        received_at=at,
        message_ids=tuple(part.message_id for part in parts),
        coding=first.coding,
        system_id=first.system_id,
        payload=first.payload,
    )


@dataclass
class Handset:
    """One subscriber's phone: its inbox and the parts still waiting for their siblings."""

    msisdn: str
    inbox_size: int = 1_000
    inbox: list[InboxMessage] = field(default_factory=list)
    partial: dict[tuple[str, int, int, int], dict[int, MtPart]] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def receive(self, part: MtPart, at: datetime) -> InboxMessage | None:
        """Take one delivered part; return the whole message once its last part is in."""
        if part.concat is None or part.concat.total <= 1:
            return self._store(_join([part], at))
        concat = part.concat
        key = (part.sender, concat.ref, concat.total, concat.ref_bits)
        parts = self.partial.setdefault(key, {})
        parts[concat.seq] = part
        if len(parts) < concat.total:
            return None
        del self.partial[key]
        return self._store(_join([parts[seq] for seq in sorted(parts)], at))

    def _store(self, message: InboxMessage) -> InboxMessage:
        self.inbox.append(message)
        if len(self.inbox) > self.inbox_size:
            del self.inbox[0]  # a full phone forgets its oldest message; keeps a long bench bounded
        self.arrived.set()
        return message


class HandsetRegistry:
    """Every handset that has received something, by E.164 MSISDN (created on first use)."""

    def __init__(self, inbox_size: int = 1_000) -> None:
        self.inbox_size = inbox_size
        self._handsets: dict[str, Handset] = {}
        self.states: dict[str, HandsetState] = {}  # handsets set to something other than "on"

    def set_state(self, msisdn: str, state: HandsetState) -> None:
        """Switch a handset on, off ("absent"), or make it unknown or barred, for the MTs that follow."""
        if state == "on":
            self.states.pop(msisdn, None)
        else:
            self.states[msisdn] = state

    def get(self, msisdn: str) -> Handset:
        """The handset of ``msisdn`` (E.164 with '+')."""
        handset = self._handsets.get(msisdn)
        if handset is None:
            handset = self._handsets[msisdn] = Handset(msisdn, self.inbox_size)
        return handset

    def inbox(self, msisdn: str) -> list[InboxMessage]:
        """Messages ``msisdn`` has received, oldest first."""
        return list(self.get(msisdn).inbox)

    async def wait_inbox(self, msisdn: str, count: int = 1, within_s: float = 5.0) -> list[InboxMessage]:
        """Wait until ``msisdn`` holds at least ``count`` messages (``TimeoutError`` after ``within_s``)."""
        handset = self.get(msisdn)
        async with asyncio.timeout(within_s):
            while len(handset.inbox) < count:
                handset.arrived.clear()
                await handset.arrived.wait()
        return list(handset.inbox)

    def clear(self, msisdn: str | None = None) -> None:
        """Empty one inbox, or all of them."""
        if msisdn is None:
            self._handsets.clear()
            self.states.clear()
        else:
            self._handsets.pop(msisdn, None)

    def __contains__(self, msisdn: object) -> bool:
        return msisdn in self._handsets

    def __len__(self) -> int:
        return len(self._handsets)
