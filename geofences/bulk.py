"""Transitions for a whole batch of reports at once, presence held in numpy (no Python per report or per pair).

The same rule as :func:`geofences.transitions.step`, written over arrays: presence is a table of (subscriber,
fence) rows sorted by ``subscriber << 32 | fence id``; a batch's reports are matched against the index, merged with
the rows of their subscribers, classified (steady, enter, exit, pending, dwell) with boolean masks, and the
subscribers' rows replaced in one sorted insert. Distances to fence edges are computed only for the pairs whose
state may change. Tests hold it equal to the per-report reference (:func:`geofences.transitions.advance`).

This is the in-process fast path (bench, a worker owning its subscribers); Redis stays the durable presence for
workers that share subscribers (:meth:`geofences.engine.Engine.process`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geofences.cells import BoolArray, FloatArray, IntArray, expand
from geofences.index import FenceIndex
from geofences.transitions import Detect, Hysteresis, Transition

DETECTS = (Detect.ENTER, Detect.DWELL, Detect.EXIT)  # event codes 0, 1, 2 (same fence: enter before dwell)
_SHIFT = 32


@dataclass
class PairTable:
    """Presence rows sorted by key; ``last_at`` by subscriber number."""

    key: IntArray
    inside: BoolArray
    since: FloatArray
    pending: IntArray
    dwelt: BoolArray
    last_at: FloatArray

    @classmethod
    def empty(cls, subscribers: int) -> PairTable:
        """Nobody inside anything."""
        z = np.zeros(0, dtype=np.int64)
        return cls(z, np.zeros(0, bool), np.zeros(0), z.copy(), np.zeros(0, bool), np.full(subscribers, -np.inf))

    def __len__(self) -> int:
        return len(self.key)

    def rows(self) -> tuple[IntArray, IntArray]:
        """(subscriber, fence id) of every row."""
        return self.key >> _SHIFT, self.key & ((1 << _SHIFT) - 1)


@dataclass
class Events:
    """Transitions of a batch as arrays (report index, fence id, event code into :data:`DETECTS`, visit start)."""

    report: IntArray
    fence_id: IntArray
    code: IntArray
    since: FloatArray

    def __len__(self) -> int:
        return len(self.report)

    def transitions(self, msisdn: list[str], lon: FloatArray, lat: FloatArray, at: FloatArray) -> list[Transition]:
        """As :class:`Transition` objects (for tests and for callers that want them)."""
        return [
            Transition(msisdn[r], f, DETECTS[c], float(at[r]), float(lon[r]), float(lat[r]), s)
            for r, f, c, s in zip(
                self.report.tolist(), self.fence_id.tolist(), self.code.tolist(), self.since.tolist(), strict=True
            )
        ]


def _empty_events() -> Events:
    z = np.zeros(0, dtype=np.int64)
    return Events(z, z.copy(), z.copy(), np.zeros(0))


def evaluate(
    index: FenceIndex,
    hysteresis: Hysteresis,
    table: PairTable,
    sub: IntArray,
    lon: FloatArray,
    lat: FloatArray,
    accuracy: FloatArray,
    at: FloatArray,
) -> tuple[PairTable, Events]:
    """Apply a batch (report i: subscriber ``sub[i]``); returns the new table and the events, in report order."""
    rank = _occurrence(sub)
    if rank.max(initial=0) == 0:
        return _evaluate_unique(index, hysteresis, table, sub, lon, lat, accuracy, at, np.arange(len(sub)))
    parts = []
    for r in range(int(rank.max()) + 1):  # a subscriber's later reports after its earlier ones
        idx = np.flatnonzero(rank == r)
        table, events = _evaluate_unique(
            index, hysteresis, table, sub[idx], lon[idx], lat[idx], accuracy[idx], at[idx], idx
        )
        parts.append(events)
    merged = Events(*(np.concatenate([getattr(e, f) for e in parts]) for f in ("report", "fence_id", "code", "since")))
    order = np.lexsort((merged.code, merged.fence_id, merged.report))
    return table, Events(merged.report[order], merged.fence_id[order], merged.code[order], merged.since[order])


def _occurrence(sub: IntArray) -> IntArray:
    """0 for a subscriber's first report in the batch, 1 for its second, ..."""
    order = np.argsort(sub, kind="stable")
    s = sub[order]
    first = np.ones(len(s), dtype=bool)
    first[1:] = s[1:] != s[:-1]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(s)), 0))
    rank = np.empty(len(s), dtype=np.int64)
    rank[order] = np.arange(len(s)) - group_start
    return rank


def _evaluate_unique(
    index: FenceIndex,
    hysteresis: Hysteresis,
    table: PairTable,
    sub: IntArray,
    lon: FloatArray,
    lat: FloatArray,
    accuracy: FloatArray,
    at: FloatArray,
    report_no: IntArray,
) -> tuple[PairTable, Events]:
    fresh = at > table.last_at[sub]
    if not fresh.all():
        keep = np.flatnonzero(fresh)
        sub, lon, lat, accuracy, at, report_no = (
            sub[keep],
            lon[keep],
            lat[keep],
            accuracy[keep],
            at[keep],
            report_no[keep],
        )
    if len(sub) == 0:
        return table, _empty_events()
    rep, fid = index.query(lon, lat)
    lo = np.searchsorted(table.key, sub << _SHIFT)
    hi = np.searchsorted(table.key, (sub + 1) << _SHIFT)
    o_rep, o_row = expand(lo, hi - lo)
    u_key, u_rep, raw, u_row = _union((sub[rep] << _SHIFT) | fid, rep, table.key[o_row], o_rep, o_row)
    rows, events = _step(index, hysteresis, table, u_key, u_rep, raw, u_row, lon, lat, accuracy, at)
    table.last_at[sub] = at
    events.report = report_no[events.report]
    return _replace_rows(table, o_row, rows), events


def _union(
    new_key: IntArray, new_rep: IntArray, old_key: IntArray, old_rep: IntArray, old_row: IntArray
) -> tuple[IntArray, IntArray, BoolArray, IntArray]:
    """Merge new pairs and old rows by key: (key, report, in the new pairs, old row or -1)."""
    keys = np.concatenate([new_key, old_key])
    reps = np.concatenate([new_rep, old_rep])
    is_new = np.concatenate([np.ones(len(new_key), bool), np.zeros(len(old_key), bool)])
    rows = np.concatenate([np.full(len(new_key), -1, dtype=np.int64), old_row])
    order = np.argsort(keys, kind="stable")  # a new pair sorts before the old row with its key
    keys, reps, is_new, rows = keys[order], reps[order], is_new[order], rows[order]
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    paired = np.zeros(len(keys), dtype=bool)
    paired[:-1] = ~first[1:]
    rows = np.where(paired, np.roll(rows, -1), rows)
    return keys[first], reps[first], is_new[first], rows[first]


@dataclass
class _Rows:
    key: IntArray
    inside: BoolArray
    since: FloatArray
    pending: IntArray
    dwelt: BoolArray


def _step(
    index: FenceIndex,
    hysteresis: Hysteresis,
    table: PairTable,
    key: IntArray,
    rep: IntArray,
    raw: BoolArray,
    row: IntArray,
    lon: FloatArray,
    lat: FloatArray,
    accuracy: FloatArray,
    at: FloatArray,
) -> tuple[_Rows, Events]:
    """:func:`geofences.transitions.step` over arrays of (subscriber, fence) pairs."""
    has = row >= 0
    r = np.where(has, row, 0)
    o_in = has & table.inside[r] if len(table) else np.zeros(len(key), bool)
    o_pend = np.where(has, table.pending[r], 0) if len(table) else np.zeros(len(key), np.int64)
    o_since = np.where(has, table.since[r], 0.0) if len(table) else np.zeros(len(key))
    o_dwelt = has & table.dwelt[r] if len(table) else np.zeros(len(key), bool)
    fence_id = key & ((1 << _SHIFT) - 1)
    slot = index.slots_of(fence_id)
    gone = slot < 0
    dwell = np.where(gone, np.nan, index.dwell[np.maximum(slot, 0)])
    steady = o_in & raw & (o_pend == 0) & (o_dwelt | np.isnan(dwell))
    work = ~steady & ~gone
    now = at[rep]
    distance = np.full(len(key), np.inf)
    w = np.flatnonzero(work)
    distance[w] = index.edge_distance_m(slot[w], lon[rep[w]], lat[rep[w]])
    acc = accuracy[rep]
    margin = np.where(
        np.isfinite(acc) & (acc >= 0),
        np.minimum(acc * hysteresis.accuracy_factor, hysteresis.max_margin_m),
        hysteresis.max_margin_m,
    )
    clear = distance >= margin
    confirmed = clear | (o_pend + 1 >= hysteresis.confirm_reports)
    enter = work & ~o_in & raw & confirmed
    wait_in = work & ~o_in & raw & ~confirmed
    exit_ = work & o_in & ~raw & confirmed
    wait_out = work & o_in & ~raw & ~confirmed
    alive = steady | enter | wait_in | (work & o_in & raw) | wait_out
    inside = steady | enter | (o_in & ~exit_ & ~gone)
    since = np.where(enter | (wait_in & ~has), now, o_since)
    pending = np.where(wait_in | wait_out, o_pend + 1, 0)
    dwelt = np.where(enter, False, o_dwelt)
    fire = alive & inside & ~dwelt & ~np.isnan(dwell) & (now - since >= np.nan_to_num(dwell, nan=np.inf))
    dwelt = dwelt | fire
    events = _events(rep, fence_id, (enter, fire, exit_), (now, since, o_since))
    a = np.flatnonzero(alive)
    return _Rows(key[a], inside[a], since[a], pending[a], dwelt[a]), events


def _events(rep: IntArray, fence_id: IntArray, masks: tuple[BoolArray, ...], since: tuple[FloatArray, ...]) -> Events:
    parts = [(np.flatnonzero(m), code, s) for code, (m, s) in enumerate(zip(masks, since, strict=True))]
    idx = np.concatenate([p[0] for p in parts])
    code = np.concatenate([np.full(len(p[0]), p[1], dtype=np.int64) for p in parts])
    start = np.concatenate([p[2][p[0]] for p in parts])
    order = np.lexsort((code, fence_id[idx], rep[idx]))
    idx, code, start = idx[order], code[order], start[order]
    return Events(rep[idx], fence_id[idx], code, start)


def _replace_rows(table: PairTable, old_rows: IntArray, new: _Rows) -> PairTable:
    keep = np.ones(len(table), dtype=bool)
    keep[old_rows] = False
    k = np.flatnonzero(keep)
    kept_key = table.key[k]
    pos = np.searchsorted(kept_key, new.key)
    return PairTable(
        np.insert(kept_key, pos, new.key),
        np.insert(table.inside[k], pos, new.inside),
        np.insert(table.since[k], pos, new.since),
        np.insert(table.pending[k], pos, new.pending),
        np.insert(table.dwelt[k], pos, new.dwelt),
        table.last_at,
    )
