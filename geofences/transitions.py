"""Fence transitions from a subscriber's previous state and a new position: pure, no I/O, no clock of its own.

Semantics follow Tile38's fence detection (``internal/server/fence.go``): from whether the previous and the new
position match the fence, ``enter`` (out -> in), ``exit`` (in -> out), ``inside`` (in -> in) and ``outside``
(out -> out). ``cross`` (a straight line between two outside positions through the fence) is not detected: with
reports minutes apart the straight line says little about where a person walked.

Positions are noisy, so the *state* changes with hysteresis (a Schmitt trigger on the distance to the edge):

- ``margin = min(accuracy_m * accuracy_factor, max_margin_m)``;
- a report is *clearly* inside (or outside) when its centre is inside (outside) by at least ``margin`` metres;
- outside -> inside (``enter``) on a clearly-inside report, or on ``confirm_reports`` consecutive inside reports;
- inside -> outside (``exit``) on a clearly-outside report, or on ``confirm_reports`` consecutive outside reports;
- anything else keeps the state (a weak report on the other side only counts towards confirmation).

So a position that wanders within ``margin`` of an edge, alternating sides, never flaps; a report with accuracy 0
behaves exactly like Tile38. ``dwell`` fires once per visit at the first report at least ``dwell_s`` after the
``enter`` (positions are periodic reports, so it is detected at report time, never by a timer).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum


class Detect(StrEnum):
    """What a position means for one fence (Tile38's detect names, plus dwell)."""

    ENTER = "enter"
    EXIT = "exit"
    INSIDE = "inside"
    OUTSIDE = "outside"
    DWELL = "dwell"


def detect(was_inside: bool, is_inside: bool) -> Detect:
    """Tile38's classification of one update against one fence (without ``cross``)."""
    if was_inside:
        return Detect.INSIDE if is_inside else Detect.EXIT
    return Detect.ENTER if is_inside else Detect.OUTSIDE


@dataclass(frozen=True, slots=True)
class FenceState:
    """A subscriber's state for one fence. Stored only while inside or while a change awaits confirmation."""

    inside: bool
    since: float  # epoch seconds: when the subscriber entered (or first reported inside, while pending)
    pending: int = 0  # consecutive weak reports on the other side of the edge
    dwelt: bool = False  # dwell already fired during this visit


@dataclass(frozen=True, slots=True)
class Hysteresis:
    """The anti-flapping rule's parameters (settings ``geofence_hysteresis_*``)."""

    max_margin_m: float = 100.0
    accuracy_factor: float = 1.0
    confirm_reports: int = 2

    def margin(self, accuracy_m: float) -> float:
        """Metres a report must be past the edge to change the state at once."""
        if not math.isfinite(accuracy_m) or accuracy_m < 0:
            return self.max_margin_m
        return min(accuracy_m * self.accuracy_factor, self.max_margin_m)


@dataclass(frozen=True, slots=True)
class Report:
    """One position of one subscriber."""

    msisdn: str
    lon: float
    lat: float
    accuracy_m: float
    at: float  # epoch seconds when the position was measured


@dataclass(frozen=True, slots=True)
class Transition:
    """A state change the rules and subscribers care about."""

    msisdn: str
    fence_id: int
    detect: Detect
    at: float
    lon: float
    lat: float
    since: float  # when the visit began (for exit and dwell: how long it lasted)


def step(
    state: FenceState | None,
    raw_inside: bool,
    depth_m: float,
    margin_m: float,
    now: float,
    hysteresis: Hysteresis,
    dwell_s: float | None = None,
) -> tuple[FenceState | None, tuple[Detect, ...]]:
    """The new state for one fence and what happened.

    ``raw_inside``: the index's answer for the report's centre; ``depth_m``: metres from the centre to the fence's
    edge (signed or not: only its magnitude is used).
    """
    clear = abs(depth_m) >= margin_m
    if state is None or not state.inside:
        if not raw_inside:
            return None, ()
        pending = (state.pending if state else 0) + 1
        if clear or pending >= hysteresis.confirm_reports:
            return _dwell(FenceState(True, now), now, dwell_s, (Detect.ENTER,))
        return FenceState(False, state.since if state else now, pending), ()
    if raw_inside:
        settled = replace(state, pending=0) if state.pending else state
        return _dwell(settled, now, dwell_s, ())
    pending = state.pending + 1
    if clear or pending >= hysteresis.confirm_reports:
        return None, (Detect.EXIT,)
    return _dwell(replace(state, pending=pending), now, dwell_s, ())


def _dwell(
    state: FenceState, now: float, dwell_s: float | None, events: tuple[Detect, ...]
) -> tuple[FenceState, tuple[Detect, ...]]:
    if dwell_s is not None and not state.dwelt and now - state.since >= dwell_s:
        return replace(state, dwelt=True), (*events, Detect.DWELL)
    return state, events


def needs_attention(states: Mapping[int, FenceState], dwell_of: Callable[[int], float | None]) -> bool:
    """Whether a report with the same inside set can still change something (a pending count or a dwell)."""
    return any(s.pending or not s.inside or (not s.dwelt and dwell_of(f) is not None) for f, s in states.items())


Depth = Callable[[int, float, float], float]  # (fence id, lon, lat) -> metres to the edge; -inf: the fence is gone
Changes = dict[int, FenceState | None]  # fence id -> new state (None: delete)


def advance(
    states: Mapping[int, FenceState],
    hits: Iterable[int],
    report: Report,
    depth: Depth,
    hysteresis: Hysteresis,
    dwell_of: Callable[[int], float | None] = lambda _: None,
    known: Callable[[int], bool] = lambda _: True,
) -> tuple[Changes, list[Transition]]:
    """Apply one report to one subscriber's states: the changed states and the transitions, in fence order.

    ``depth`` gives metres to a fence's edge (asked only when it can matter), ``known`` whether a fence still
    exists (a removed fence's state is dropped without an event).
    """
    hit_set = set(hits)
    margin = hysteresis.margin(report.accuracy_m)
    changes: Changes = {}
    out: list[Transition] = []
    for fence_id in sorted(hit_set | states.keys()):
        old = states.get(fence_id)
        raw = fence_id in hit_set
        if old is not None and old.inside and raw and not old.pending and (old.dwelt or dwell_of(fence_id) is None):
            continue  # steady inside: the common case, nothing to compute
        d = depth(fence_id, report.lon, report.lat) if _needs_depth(old, raw, margin, hysteresis) else math.inf
        if d == -math.inf or not known(fence_id):
            changes[fence_id] = None  # the fence was removed: forget it silently
            continue
        new, events = step(old, raw, d, margin, report.at, hysteresis, dwell_of(fence_id))
        if new != old:
            changes[fence_id] = new
        since = old.since if old is not None and old.inside else report.at
        out.extend(Transition(report.msisdn, fence_id, e, report.at, report.lon, report.lat, since) for e in events)
    return changes, out


def _needs_depth(old: FenceState | None, raw: bool, margin: float, hysteresis: Hysteresis) -> bool:
    """Whether the distance to the edge can change the outcome (else the count of reports decides alone)."""
    was_inside = old is not None and old.inside
    if was_inside == raw or (old is None and not raw):
        return False  # no change of side proposed: the distance is not used
    pending = old.pending if old is not None else 0
    return margin > 0 and pending + 1 < hysteresis.confirm_reports


def apply(states: Mapping[int, FenceState], changes: Changes) -> dict[int, FenceState]:
    """``states`` with ``changes`` applied."""
    merged = dict(states)
    for fence_id, new in changes.items():
        if new is None:
            merged.pop(fence_id, None)
        else:
            merged[fence_id] = new
    return merged
