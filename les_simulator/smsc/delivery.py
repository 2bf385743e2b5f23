"""The SMSC's store: accepted MT parts between submit_sm and their final state.

A part waits its delivery delay, then reaches its handset (or fails, as decided at submit time). A handset that
is switched off (``absent``) does not fail the part: the SMSC holds it until the handset comes back (then it is
delivered) or its validity period runs out (then it is ``EXPIRED``), as real SMSCs retry. ``suspend()`` and
``resume()`` carry the whole store across an SMSC restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from les_simulator.smsc.handsets import MtPart
from les_simulator.smsc.modes import ReceiptStat


@dataclass(frozen=True, slots=True)
class Delivery:
    """An accepted MT part on its way to the handset, its decided outcome, and when it expires."""

    part: MtPart
    stat: ReceiptStat
    registered_delivery: int
    expires_at: datetime


Finish = Callable[[Delivery, ReceiptStat], None]
IsAbsent = Callable[[str], bool]


class DeliveryStore:
    """Scheduled parts, and parts held for absent handsets; ``finish`` is called once per part."""

    def __init__(self, finish: Finish, is_absent: IsAbsent) -> None:
        self._finish, self._is_absent = finish, is_absent
        self._scheduled: dict[str, tuple[asyncio.TimerHandle, Delivery]] = {}
        self._held: dict[str, dict[str, tuple[asyncio.TimerHandle, Delivery]]] = {}
        self._suspended: list[Delivery] = []

    def schedule(self, delivery: Delivery, delay: float) -> None:
        """Deliver after ``delay`` seconds."""
        handle = asyncio.get_running_loop().call_later(delay, self._due, delivery)
        self._scheduled[delivery.part.message_id] = (handle, delivery)

    def _due(self, delivery: Delivery) -> None:
        self._scheduled.pop(delivery.part.message_id, None)
        if delivery.stat == "DELIVRD" and self._is_absent(delivery.part.recipient):
            self._hold(delivery)
        else:
            self._finish(delivery, delivery.stat)

    def _hold(self, delivery: Delivery) -> None:
        remaining = (delivery.expires_at - datetime.now(UTC)).total_seconds()
        if remaining <= 0:
            self._finish(delivery, "EXPIRED")
            return
        handle = asyncio.get_running_loop().call_later(remaining, self._expire, delivery)
        self._held.setdefault(delivery.part.recipient, {})[delivery.part.message_id] = (handle, delivery)

    def _expire(self, delivery: Delivery) -> None:
        self._held.get(delivery.part.recipient, {}).pop(delivery.part.message_id, None)
        self._finish(delivery, "EXPIRED")

    def release(self, msisdn: str) -> int:
        """The handset is back: deliver what was held for it now. Returns how many parts."""
        held = self._held.pop(msisdn, {})
        for handle, delivery in held.values():
            handle.cancel()
            self._finish(delivery, "DELIVRD")
        return len(held)

    def suspend(self) -> None:
        """The SMSC stops: cancel every timer and keep the parts for ``resume``."""
        entries = list(self._scheduled.values())
        entries += [entry for held in self._held.values() for entry in held.values()]
        for handle, delivery in entries:
            handle.cancel()
            self._suspended.append(delivery)
        self._scheduled.clear()
        self._held.clear()

    def resume(self, delay: float) -> None:
        """The SMSC is back: schedule every suspended part again."""
        suspended, self._suspended = self._suspended, []
        for delivery in suspended:
            self.schedule(delivery, delay)

    def take_suspended(self) -> list[Delivery]:
        """Hand the suspended parts over (to the on-disk store)."""
        suspended, self._suspended = self._suspended, []
        return suspended

    def add_suspended(self, deliveries: list[Delivery]) -> None:
        """Take parts back (from the on-disk store) for the next ``resume``."""
        self._suspended.extend(deliveries)

    def forget_suspended(self) -> None:
        """A crash that lost the store."""
        self._suspended.clear()

    def pending(self) -> dict[str, int]:
        """Parts waiting: scheduled, held for absent handsets, suspended by a stop."""
        return {
            "scheduled": len(self._scheduled),
            "held": sum(len(held) for held in self._held.values()),
            "suspended": len(self._suspended),
        }
