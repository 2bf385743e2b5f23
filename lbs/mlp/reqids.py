"""The requests the platform opened at the LES: the only ``req_id``s whose pushed reports it accepts.

The MLP client records the req_id of every triggered reporting request (TLRR) and asynchronous SLIR the LES
acknowledges, with how long it stays open, and forgets it when it stops the reporting (TLRSR). The push receiver
refuses a document whose req_id is not open: a report nobody asked for is a forged one, or a stale one.

:class:`RedisOpenRequests` is shared by every platform process (the one that opens a request need not be the one
that receives its reports); :class:`MemoryOpenRequests` serves a single process (the showcase, the benches).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import redis.asyncio as aioredis

KEY_PREFIX = "mlp:open:"


class OpenRequests(Protocol):
    """Where the platform keeps the req_ids it opened at the LES."""

    async def opened(self, req_id: str, *, until: datetime | None = None, ttl_s: float | None = None) -> None:
        """Record ``req_id``, open until ``until`` or for ``ttl_s`` seconds (neither: until :meth:`closed`)."""
        ...

    async def closed(self, req_id: str) -> None:
        """Forget ``req_id``."""
        ...

    async def is_open(self, req_id: str) -> bool:
        """Whether ``req_id`` was opened by the platform and is still open."""
        ...


class RedisOpenRequests:
    """One Redis key per open req_id, expiring with the request."""

    def __init__(self, redis: aioredis.Redis, prefix: str = KEY_PREFIX) -> None:
        self._redis = redis
        self._prefix = prefix

    async def opened(self, req_id: str, *, until: datetime | None = None, ttl_s: float | None = None) -> None:
        """``SET`` the key, with ``EXAT`` or ``PX`` when the request ends."""
        key = self._prefix + req_id
        if until is not None:
            await self._redis.set(key, "1", exat=max(1, int(until.timestamp()) + 1))
        elif ttl_s is not None:
            await self._redis.set(key, "1", px=max(1, int(ttl_s * 1000)))
        else:
            await self._redis.set(key, "1")

    async def closed(self, req_id: str) -> None:
        """``DEL`` the key."""
        await self._redis.delete(self._prefix + req_id)

    async def is_open(self, req_id: str) -> bool:
        """``EXISTS`` the key."""
        return bool(await self._redis.exists(self._prefix + req_id))


class MemoryOpenRequests:
    """The same, in this process's memory (deadlines on a monotonic clock)."""

    def __init__(self, wall: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._deadlines: dict[str, float | None] = {}
        self._wall = wall
        self._monotonic = monotonic

    async def opened(self, req_id: str, *, until: datetime | None = None, ttl_s: float | None = None) -> None:
        """Record the deadline (None: open until closed)."""
        if until is not None:
            ttl_s = until.timestamp() - self._wall()
        self._deadlines[req_id] = None if ttl_s is None else self._monotonic() + ttl_s

    async def closed(self, req_id: str) -> None:
        """Forget it."""
        self._deadlines.pop(req_id, None)

    async def is_open(self, req_id: str) -> bool:
        """Known and not past its deadline."""
        if req_id not in self._deadlines:
            return False
        deadline = self._deadlines[req_id]
        return deadline is None or self._monotonic() < deadline
