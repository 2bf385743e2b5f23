"""Presence state in Redis: which fences a subscriber is in, since when, one hash per subscriber.

Key ``gf:{<msisdn>}:p`` (the braces are a Redis Cluster hash tag, so everything about one subscriber lives in one
hash slot): field ``_t`` holds the time of the last report applied (reports at or before it are ignored, which makes
replaying a stream entry harmless), field ``<fence id>`` holds ``inside|since|pending|dwelt``.

Writes are compare-and-set on ``_t`` in one Lua script: two workers handling the same subscriber at once cannot
both apply; the loser reloads and retries. The same script appends the transitions it commits to the subscriber's
*transition outbox* ``gf:{<msisdn>}:out`` (same hash slot, so one script may touch both keys on a cluster). They leave
it only once handled (:meth:`PresenceStore.pending`, :meth:`PresenceStore.done`): a worker killed between saving
state and acting on it loses nothing, and handling is idempotent downstream, so nothing fires twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from geofences.transitions import Changes, Detect, FenceState, Transition

LAST_T = "_t"

# KEYS[1]: presence hash, KEYS[2]: transition outbox. ARGV[1]: expected _t ('' if none); ARGV[2]: new _t;
# ARGV[3]: TTL seconds; ARGV[4]: number n of (field, value) pairs that follow, an empty value deleting the field;
# then the encoded transitions. Returns 1 when applied, 0 when _t had moved.
_SAVE = """
local cur = redis.call('HGET', KEYS[1], '_t')
if (cur or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], '_t', ARGV[2])
local last = 4 + 2 * tonumber(ARGV[4])
for i = 5, last, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
for i = last + 1, #ARGV do
  redis.call('RPUSH', KEYS[2], ARGV[i])
end
return 1
"""


# KEYS[1]: presence hash. The whole hash as one string "field\nvalue\n...": one reply to parse instead of 2n+2.
_LOAD = """
return table.concat(redis.call('HGETALL', KEYS[1]), '\\n')
"""


def presence_key(msisdn: str) -> str:
    """The subscriber's presence hash (hash-tagged by MSISDN)."""
    return f"gf:{{{msisdn}}}:p"


def outbox_key(msisdn: str) -> str:
    """The subscriber's transition outbox (same hash slot as its presence)."""
    return f"gf:{{{msisdn}}}:out"


def encode_transition(t: Transition) -> str:
    """A transition as the outbox holds it (JSON)."""
    return json.dumps([t.msisdn, t.fence_id, t.detect.value, t.at, t.lon, t.lat, t.since])


def decode_transition(raw: str | bytes) -> Transition:
    """The inverse of :func:`encode_transition`."""
    msisdn, fence_id, detect, at, lon, lat, since = json.loads(raw)
    return Transition(msisdn, int(fence_id), Detect(detect), at, lon, lat, since)


def encode_state(state: FenceState) -> str:
    """``inside|since|pending|dwelt``."""
    return f"{int(state.inside)}|{state.since!r}|{state.pending}|{int(state.dwelt)}"


def decode_state(raw: str) -> FenceState:
    """The inverse of :func:`encode_state`."""
    inside, since, pending, dwelt = raw.split("|")
    return FenceState(inside == "1", float(since), int(pending), dwelt == "1")


@dataclass
class Presence:
    """One subscriber's stored state: the raw ``_t`` (for compare-and-set) and the fence states."""

    msisdn: str
    last_raw: str = ""
    states: dict[int, FenceState] = field(default_factory=dict)

    @property
    def last_at(self) -> float:
        """Time of the last applied report (-inf when none)."""
        return float(self.last_raw) if self.last_raw else float("-inf")


def text(value: Any) -> str:
    """A Redis reply value as str."""
    return _text(value)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_hash(msisdn: str, raw: dict[Any, Any]) -> Presence:
    """A :class:`Presence` from ``HGETALL``'s answer."""
    presence = Presence(msisdn)
    for key, value in raw.items():
        name = _text(key)
        if name == LAST_T:
            presence.last_raw = _text(value)
        elif name.isdigit():
            presence.states[int(name)] = decode_state(_text(value))
    return presence


def parse_joined(msisdn: str, raw: bytes | str) -> Presence:
    """A :class:`Presence` from the load script's joined answer."""
    parts = _text(raw).split("\n") if raw else []
    return parse_hash(msisdn, dict(zip(parts[::2], parts[1::2], strict=True)))


class PresenceStore:
    """Load and save presence for batches of subscribers (one round trip each way per batch)."""

    def __init__(self, redis: aioredis.Redis, ttl_s: int) -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self._save = redis.register_script(_SAVE)
        self._load = redis.register_script(_LOAD)

    async def load(self, msisdns: Sequence[str]) -> list[Presence]:
        """Presence of each subscriber, in order."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for msisdn in msisdns:
                await self._load(keys=[presence_key(msisdn)], client=pipe)
            answers = await pipe.execute()
        return [parse_joined(m, a) for m, a in zip(msisdns, answers, strict=True)]

    async def save(self, items: Sequence[tuple[Presence, float, Changes, Sequence[Transition]]]) -> list[bool]:
        """Apply (presence as loaded, new report time, changes, transitions) per subscriber, transitions going to
        its outbox in the same step; False where ``_t`` had moved (nothing applied for that subscriber)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for presence, at, changes, transitions in items:
                args: list[str | int | float] = [presence.last_raw, repr(at), self.ttl_s, len(changes)]
                for fence_id, new in changes.items():
                    args += [str(fence_id), "" if new is None else encode_state(new)]
                args += [encode_transition(t) for t in transitions]
                keys = [presence_key(presence.msisdn), outbox_key(presence.msisdn)]
                await self._save(keys=keys, args=args, client=pipe)
            answers = await pipe.execute()
        return [bool(a) for a in answers]

    async def pending(self, msisdns: Sequence[str]) -> dict[str, list[Transition]]:
        """Transitions committed but not yet handled, per subscriber (only those with some)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for msisdn in msisdns:
                pipe.lrange(outbox_key(msisdn), 0, -1)
            answers = await pipe.execute()
        return {m: [decode_transition(r) for r in a] for m, a in zip(msisdns, answers, strict=True) if a}

    async def done(self, msisdn: str, count: int) -> None:
        """The first ``count`` pending transitions of a subscriber were handled."""
        await self.redis.ltrim(outbox_key(msisdn), count, -1)

    async def forget(self, msisdn: str) -> None:
        """Erase a subscriber's presence (consent ended, erasure)."""
        await self.redis.delete(presence_key(msisdn), outbox_key(msisdn))

    async def inside(self, msisdn: str) -> dict[int, FenceState]:
        """The fences the subscriber is in now (confirmed states only)."""
        (presence,) = await self.load([msisdn])
        return {f: s for f, s in presence.states.items() if s.inside}
