"""Poison work of the geofence workers: counted tries, then a dead-letter stream an operator can read.

A stream entry or a transition that fails with anything but an outage (a bug, a row no code expected) would fail on
every worker that claims it, forever. Each failure is counted in one hash (``<stream>:tries``); at
``geofence_poison_tries`` the work is *buried*: written to the dead-letter stream ``<stream>:dead`` (capped, newest
kept) with its error, and taken out of the way (the caller acknowledges the entry or drops the transition). The
payload stays in the dead-letter stream for a replay by hand; the operator view shows the MSISDN only as its
pseudonym.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis

from lbs.settings import Settings

TRIES_TTL_S = 7 * 86_400  # a try count nobody touched for a week belongs to work that left by another way
DEAD_MAXLEN = 10_000  # dead letters kept; they are for diagnosis, not a second queue
ERROR_MAX = 500  # characters of an error kept: enough to diagnose, bounded whatever the exception says


def tries_key(settings: Settings) -> str:
    return f"{settings.geofence_stream}:tries"


def dead_key(settings: Settings) -> str:
    return f"{settings.geofence_stream}:dead"


def counts_key(settings: Settings) -> str:
    return f"{settings.geofence_stream}:dead:counts"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One buried piece of work as the operator sees it."""

    id: str
    kind: str  # entry | transition
    ref: str  # the stream entry id, or the transition's key
    subject: str  # the subscriber's pseudonym ('' when the entry could not be read)
    error: str
    tries: int
    at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "ref": self.ref,
            "subject": self.subject,
            "error": self.error,
            "tries": self.tries,
            "at": self.at,
        }


def describe(exc: BaseException) -> str:
    """``Type: message``, bounded."""
    return f"{type(exc).__name__}: {exc}"[:ERROR_MAX]


class DeadLetters:
    """Try counts and the dead-letter stream of one position stream."""

    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings

    async def failed(self, ref: str) -> int:
        """Count one more failure of ``ref``; the number of failures so far."""
        key = tries_key(self.settings)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, ref, 1)
            pipe.expire(key, TRIES_TTL_S)
            tries, _ = await pipe.execute()
        return int(tries)

    async def forget(self, *refs: str) -> None:
        """``refs`` succeeded or were buried: their counts go."""
        if refs:
            await self.redis.hdel(tries_key(self.settings), *refs)

    async def bury(
        self, kind: str, ref: str, subject: str, payload: str, error: str, tries: int, now: datetime
    ) -> None:
        """Write one dead letter and forget its try count."""
        fields = {
            "kind": kind,
            "ref": ref,
            "subject": subject,
            "payload": payload,
            "error": error,
            "tries": str(tries),
            "at": now.isoformat(),
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(dead_key(self.settings), fields, maxlen=DEAD_MAXLEN, approximate=True)  # type: ignore[arg-type]
            pipe.hincrby(counts_key(self.settings), kind, 1)
            pipe.hdel(tries_key(self.settings), ref)
            await pipe.execute()

    async def latest(self, limit: int) -> list[DeadLetter]:
        """The newest dead letters first (without their payloads)."""
        rows: Any = await self.redis.xrevrange(dead_key(self.settings), count=limit)
        return [_letter(entry_id, fields) for entry_id, fields in rows]

    async def counts(self) -> dict[str, int]:
        """Dead letters ever buried, by kind (the metric)."""
        raw: Any = await self.redis.hgetall(counts_key(self.settings))
        return {_text(k): int(v) for k, v in raw.items()}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _letter(entry_id: Any, fields: dict[Any, Any]) -> DeadLetter:
    f = {_text(k): _text(v) for k, v in fields.items()}
    return DeadLetter(
        _text(entry_id), f.get("kind", ""), f.get("ref", ""), f.get("subject", ""), f.get("error", ""),
        int(f.get("tries", "0") or 0), f.get("at", ""),
    )  # fmt: skip
