"""The engine: positions in, transitions out. The index answers a whole batch at once; states change per subscriber.

Two ways to hold presence:

- :meth:`Engine.process` with a :class:`~geofences.presence.PresenceStore` (Redis, the durable truth the workers
  share): one pipelined load and one pipelined compare-and-set save per batch.
- :class:`MemoryPresence` + :meth:`Engine.evaluate_bulk` (dense subscriber numbers, numpy): the in-process fast
  path used by the bench and by a worker that owns its subscribers. A report whose set of containing fences is the
  one the subscriber is already in, with nothing pending, is recognised by a 64-bit signature of that set and costs
  no Python at all; only the others go through :func:`~geofences.transitions.advance`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from geofences.cells import BoolArray, FloatArray, IntArray
from geofences.index import FenceIndex
from geofences.presence import Presence, PresenceStore
from geofences.transitions import Changes, FenceState, Hysteresis, Report, Transition, advance, apply, needs_attention

MAX_SAVE_ATTEMPTS = 5  # compare-and-set retries when another worker changed the same subscriber meanwhile
_M64 = (1 << 64) - 1

npt_u64 = npt.NDArray[np.uint64]


def mix(values: IntArray) -> npt_u64:
    """splitmix64 of each id: the signature of a set of fences is the XOR of its members' mixes."""
    z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    out: npt_u64 = z ^ (z >> np.uint64(31))
    return out


def mix_one(value: int) -> int:
    """:func:`mix` for one id, in Python integers."""
    z = (value + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


class Engine:
    """A fence index plus the hysteresis rule."""

    def __init__(self, index: FenceIndex, hysteresis: Hysteresis | None = None) -> None:
        self.index = index
        self.hysteresis = hysteresis or Hysteresis()

    def dwell_of(self, fence_id: int) -> float | None:
        """The fence's dwell time, if it has one."""
        fence = self.index.get(fence_id)
        return None if fence is None else fence.dwell_s

    def hits(self, reports: Sequence[Report]) -> list[list[int]]:
        """Ids of the fences containing each report."""
        lon = np.fromiter((r.lon for r in reports), np.float64, count=len(reports))
        lat = np.fromiter((r.lat for r in reports), np.float64, count=len(reports))
        rep, fid = self.index.query(lon, lat)
        bounds = np.searchsorted(rep, np.arange(len(reports) + 1))
        ids = fid.tolist()
        return [ids[bounds[i] : bounds[i + 1]] for i in range(len(reports))]

    def apply_reports(
        self, presence: Presence, reports: Sequence[tuple[Report, list[int]]]
    ) -> tuple[Changes, list[Transition], float]:
        """One subscriber's reports (time order) against its stored state: final changes, transitions, last time."""
        states: dict[int, FenceState] = dict(presence.states)
        touched: set[int] = set()
        out: list[Transition] = []
        last = presence.last_at
        for report, hits in reports:
            if report.at <= last:
                continue  # already applied (a replayed stream entry) or out of order
            changes, transitions = advance(
                states, hits, report, self.index.signed_depth_m, self.hysteresis, self.dwell_of
            )
            states = apply(states, changes)
            touched |= changes.keys()
            out.extend(transitions)
            last = report.at
        return {f: states.get(f) for f in touched}, out, last

    async def process(self, store: PresenceStore, reports: Sequence[Report]) -> list[Transition]:
        """Apply a batch of reports with presence in Redis; returns the transitions (each subscriber's in order)."""
        by_subscriber: dict[str, list[tuple[Report, list[int]]]] = defaultdict(list)
        for report, hits in zip(reports, self.hits(reports), strict=True):
            by_subscriber[report.msisdn].append((report, hits))
        for items in by_subscriber.values():
            items.sort(key=lambda item: item[0].at)
        out: list[Transition] = []
        todo = list(by_subscriber)
        for _ in range(MAX_SAVE_ATTEMPTS):
            if not todo:
                break
            presences = await store.load(todo)
            results = [self.apply_reports(p, by_subscriber[p.msisdn]) for p in presences]
            saved = await store.save([(p, last, ch) for p, (ch, _, last) in zip(presences, results, strict=True)])
            for ok, (_, transitions, _) in zip(saved, results, strict=True):
                if ok:
                    out.extend(transitions)
            todo = [p.msisdn for p, ok in zip(presences, saved, strict=True) if not ok]
        if todo:
            raise RuntimeError(f"presence kept changing under us for {len(todo)} subscribers")
        return out


@dataclass
class MemoryPresence:
    """In-process presence for subscribers numbered 0..n-1 (see the module docstring)."""

    signature: npt_u64
    attention: BoolArray
    last_at: FloatArray
    states: dict[int, dict[int, FenceState]]

    @classmethod
    def empty(cls, subscribers: int) -> MemoryPresence:
        """No subscriber inside any fence."""
        return cls(
            np.zeros(subscribers, dtype=np.uint64),
            np.zeros(subscribers, dtype=bool),
            np.full(subscribers, -np.inf),
            {},
        )


def _set_signatures(rep: IntArray, fid: IntArray, n: int) -> npt_u64:
    h = np.concatenate([np.zeros(1, dtype=np.uint64), np.bitwise_xor.accumulate(mix(fid))])
    bounds = np.searchsorted(rep, np.arange(n + 1))
    out: npt_u64 = h[bounds[1:]] ^ h[bounds[:-1]]
    return out


def _duplicated(sub: IntArray) -> BoolArray:
    order = np.argsort(sub, kind="stable")
    s = sub[order]
    same = np.zeros(len(s), dtype=bool)
    same[1:] = s[1:] == s[:-1]
    same[:-1] |= s[1:] == s[:-1]
    out = np.empty(len(s), dtype=bool)
    out[order] = same
    return out


def evaluate_bulk(
    engine: Engine,
    presence: MemoryPresence,
    sub: IntArray,
    lon: FloatArray,
    lat: FloatArray,
    accuracy: FloatArray,
    at: FloatArray,
) -> list[Transition]:
    """Apply a batch (report i: subscriber ``sub[i]`` at ``lon[i], lat[i]``) to in-memory presence."""
    n = len(sub)
    rep, fid = engine.index.query(lon, lat)
    signature = _set_signatures(rep, fid, n)
    steady = (signature == presence.signature[sub]) & ~presence.attention[sub] & ~_duplicated(sub)
    steady &= at > presence.last_at[sub]
    presence.last_at[sub[steady]] = at[steady]
    bounds = np.searchsorted(rep, np.arange(n + 1))
    out: list[Transition] = []
    for i in np.flatnonzero(~steady).tolist():
        s = int(sub[i])
        if at[i] <= presence.last_at[s]:
            continue
        states = presence.states.get(s, {})
        report = Report(str(s), float(lon[i]), float(lat[i]), float(accuracy[i]), float(at[i]))
        changes, transitions = advance(
            states,
            fid[bounds[i] : bounds[i + 1]].tolist(),
            report,
            engine.index.signed_depth_m,
            engine.hysteresis,
            engine.dwell_of,
        )
        out.extend(transitions)
        _store(presence, s, apply(states, changes), engine, float(at[i]))
    return out


def _store(presence: MemoryPresence, s: int, states: dict[int, FenceState], engine: Engine, at: float) -> None:
    if states:
        presence.states[s] = states
    else:
        presence.states.pop(s, None)
    sig = 0
    for fence_id, state in states.items():
        if state.inside:
            sig ^= mix_one(fence_id)
    presence.signature[s] = np.uint64(sig)
    presence.attention[s] = needs_attention(states, engine.dwell_of)
    presence.last_at[s] = at
