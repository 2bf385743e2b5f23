"""The requests the platform opened at the LES: the only pushed reports it accepts answer one of them.

Every asynchronous SLIR and TLRR the MLP client sends gets a fresh random ``ref``, which goes into the request's
push address (``.../mlp/push?ref=...``). Before sending, the client records the ref as *expected* (so a report the
LES pushes before its answer has even reached the client is not lost); once the LES answers with its ``req_id``, the
ref is *bound* to that req_id, until the request's end (or TLRSR, which forgets both). The push receiver accepts a
document only when its ref is known and either still expected or bound to the document's req_id: a report nobody
asked for, or one naming another request's req_id, is a forged or a stale one.

:class:`RedisOpenRequests` is shared by every platform process (the one that opens a request need not be the one
that receives its reports); :class:`MemoryOpenRequests` serves a single process (the showcase, the benches).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis

REF_PREFIX = "mlp:ref:"  # ref -> req_id ("" while the request is in flight)
REQ_PREFIX = "mlp:req:"  # req_id -> ref (to forget both at TLRSR)


class OpenRequests(Protocol):
    """Where the platform keeps the requests it opened at the LES."""

    async def expect(self, ref: str, *, ttl_s: float) -> None:
        """A request with push address ``ref`` is about to be sent; accept its reports for ``ttl_s`` seconds."""
        ...

    async def opened(self, req_id: str, ref: str, *, ttl_s: float | None = None) -> None:
        """The LES answered ``req_id`` for ``ref``: open for ``ttl_s`` seconds (None: until closed)."""
        ...

    async def closed(self, req_id: str) -> None:
        """Forget ``req_id`` and its ref."""
        ...

    async def accepts(self, req_id: str, ref: str | None) -> bool:
        """Whether a report for ``req_id`` pushed to ``ref`` answers a request the platform opened."""
        ...


def _match(bound: str, req_id: str) -> bool:
    return bound == "" or hmac.compare_digest(bound.encode(), req_id.encode())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisOpenRequests:
    """Two Redis keys per request (ref -> req_id, req_id -> ref), expiring with the request."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def expect(self, ref: str, *, ttl_s: float) -> None:
        """``SET mlp:ref:{ref} ""`` for ``ttl_s``."""
        await self._redis.set(REF_PREFIX + ref, "", px=max(1, int(ttl_s * 1000)))

    async def opened(self, req_id: str, ref: str, *, ttl_s: float | None = None) -> None:
        """Both keys in one transaction, with ``PX`` when the request ends (relative: no wall clock needed)."""
        px = None if ttl_s is None else max(1, int(ttl_s * 1000))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(REF_PREFIX + ref, req_id, px=px)
            pipe.set(REQ_PREFIX + req_id, ref, px=px)
            await pipe.execute()

    async def closed(self, req_id: str) -> None:
        """Delete both keys."""
        ref = await self._redis.get(REQ_PREFIX + req_id)
        keys = [REQ_PREFIX + req_id] + ([REF_PREFIX + _text(ref)] if ref else [])
        await self._redis.delete(*keys)

    async def accepts(self, req_id: str, ref: str | None) -> bool:
        """The ref is known and still expected, or bound to ``req_id``."""
        if not ref:
            return False
        bound = await self._redis.get(REF_PREFIX + ref)
        return bound is not None and _match(_text(bound), req_id)


class MemoryOpenRequests:
    """The same, in this process's memory (deadlines on a monotonic clock)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._refs: dict[str, tuple[str, float | None]] = {}  # ref -> (req_id or "", deadline)
        self._reqs: dict[str, str] = {}
        self._monotonic = monotonic

    async def expect(self, ref: str, *, ttl_s: float) -> None:
        """Expected for ``ttl_s``."""
        self._refs[ref] = ("", self._monotonic() + ttl_s)

    async def opened(self, req_id: str, ref: str, *, ttl_s: float | None = None) -> None:
        """Bound, with its deadline (None: until closed)."""
        self._refs[ref] = (req_id, None if ttl_s is None else self._monotonic() + ttl_s)
        self._reqs[req_id] = ref

    async def closed(self, req_id: str) -> None:
        """Forget both."""
        self._refs.pop(self._reqs.pop(req_id, ""), None)

    async def accepts(self, req_id: str, ref: str | None) -> bool:
        """Known, not past its deadline, and expected or bound to ``req_id``."""
        entry = self._refs.get(ref or "")
        if entry is None or (entry[1] is not None and self._monotonic() >= entry[1]):
            return False
        return _match(entry[0], req_id)
