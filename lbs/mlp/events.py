"""Location events: every location result, success or error, for billing and audit to consume.

The client calls an :data:`EventSink` (any ``async`` callable). :class:`EventQueue` is a ready-made sink backed by
a bounded asyncio queue; when it is full the oldest event is dropped and counted, so a slow consumer never
blocks locating.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from lbs.mlp.codes import ResultCode
from lbs.mlp.models import Position


@dataclass(frozen=True, slots=True)
class LocationEvent:
    """One location result: who was located, for whom, how it went."""

    at: datetime
    kind: str  # "slir" (we asked), "report" (pushed to us: slirep/tlrep)
    msisdn: str
    requestor: str | None
    application: str  # our MLP client id (or req_id of the trigger for pushed reports)
    result: ResultCode
    position: Position | None
    latency_ms: float | None = None
    error: str | None = None
    req_id: str | None = None

    @property
    def ok(self) -> bool:
        """A position was obtained (a billable location)."""
        return self.position is not None


EventSink = Callable[[LocationEvent], Awaitable[None]]


class EventQueue:
    """A bounded queue of events; use :meth:`sink` as the client's ``events`` callback."""

    def __init__(self, maxsize: int = 10_000) -> None:
        self.queue: asyncio.Queue[LocationEvent] = asyncio.Queue(maxsize)
        self.dropped = 0

    async def sink(self, event: LocationEvent) -> None:
        """Enqueue, dropping the oldest event when full."""
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self) -> LocationEvent:
        """The next event."""
        return await self.queue.get()

    def drain(self) -> list[LocationEvent]:
        """Every queued event, now."""
        items = []
        while not self.queue.empty():
            items.append(self.queue.get_nowait())
        return items
