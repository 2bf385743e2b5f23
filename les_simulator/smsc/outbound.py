"""What the SMSC sends to ESMEs (MO and receipts): per-account queues, retried until an ESME takes them.

A deliver_sm waits in its account's queue until a receiver or transceiver bind of that account pulls it
(``SmppSession`` pumps the queue within its window). If the bind drops or the ESME does not answer in time,
the message goes back into the queue; a temporary error (``ESME_RX_T_APPN``, ``ESME_RMSGQFUL``,
``ESME_RTHROTTLED``) retries it later; any other error is final. Nothing is dropped while the SMSC runs.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from aiosmpplib import DeliverSm, SmppCommandStatus

TEMPORARY_ERRORS: Final = frozenset(
    {SmppCommandStatus.ESME_RX_T_APPN, SmppCommandStatus.ESME_RMSGQFUL, SmppCommandStatus.ESME_RTHROTTLED}
)

Settle = Callable[["Outbound", SmppCommandStatus], None]


@dataclass(eq=False)
class Outbound:
    """One deliver_sm on its way to an ESME (encoded once), and who to tell when it is answered."""

    system_id: str
    pdu: bytes
    on_settled: Settle | None = None
    attempts: int = 0
    statuses: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, system_id: str, message: DeliverSm, on_settled: Settle | None = None) -> Outbound:
        """Encode ``message`` now: an encoding error surfaces here, and retries reuse the octets."""
        return cls(system_id, message.pdu(), on_settled)

    def with_sequence(self, sequence: int) -> bytes:
        """The PDU with its sequence_number set for one attempt."""
        return self.pdu[:12] + struct.pack("!I", sequence) + self.pdu[16:]


class OutboundQueues:
    """One FIFO per account (system_id) of deliver_sm waiting for a bind."""

    def __init__(self, retry_delay_s: float) -> None:
        self.retry_delay_s = retry_delay_s
        self._queues: dict[str, asyncio.Queue[Outbound]] = {}
        self._timers: dict[Outbound, asyncio.TimerHandle] = {}

    def queue(self, system_id: str) -> asyncio.Queue[Outbound]:
        """The queue of ``system_id`` (created on first use)."""
        queue = self._queues.get(system_id)
        if queue is None:
            queue = self._queues[system_id] = asyncio.Queue()
        return queue

    def put(self, item: Outbound) -> None:
        """Queue ``item`` for its account now."""
        self.queue(item.system_id).put_nowait(item)

    def put_later(self, item: Outbound) -> None:
        """Queue ``item`` again after the retry delay."""
        self._timers[item] = asyncio.get_running_loop().call_later(self.retry_delay_s, self._put_timed, item)

    def _put_timed(self, item: Outbound) -> None:
        self._timers.pop(item, None)
        self.put(item)

    def settle(self, item: Outbound, status: SmppCommandStatus) -> None:
        """The ESME answered ``item``: done, retried later (temporary error) or failed for good."""
        item.attempts += 1
        item.statuses.append(status.name)
        if status in TEMPORARY_ERRORS:
            self.put_later(item)
        elif item.on_settled is not None:
            item.on_settled(item, status)

    def take_all(self) -> list[Outbound]:
        """Empty every queue (for the persistent store), oldest first per account."""
        items: list[Outbound] = []
        for queue in self._queues.values():
            while not queue.empty():
                items.append(queue.get_nowait())
        return items

    def waiting(self) -> dict[str, int]:
        """How many deliver_sm wait per account."""
        return {system_id: queue.qsize() for system_id, queue in self._queues.items() if queue.qsize()}

    def close(self) -> None:
        """The SMSC is stopping: cancel the retry timers and queue their PDUs now, so a restart keeps them."""
        for item, timer in self._timers.items():
            timer.cancel()
            self.put(item)
        self._timers.clear()
