"""Transitions: Tile38's detect table, the hysteresis rule (no flapping on noisy edges), dwell on a virtual clock."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geofences.geo import M_PER_DEG
from geofences.transitions import (
    Detect,
    FenceState,
    Hysteresis,
    Report,
    Transition,
    advance,
    apply,
    detect,
    needs_attention,
    step,
)

H = Hysteresis(max_margin_m=100, accuracy_factor=1.0, confirm_reports=2)
COS = math.cos(math.radians(50.0))


def test_detect_is_tile38_s_table() -> None:
    assert detect(False, True) is Detect.ENTER
    assert detect(True, True) is Detect.INSIDE
    assert detect(True, False) is Detect.EXIT
    assert detect(False, False) is Detect.OUTSIDE


def test_margin() -> None:
    assert H.margin(30) == 30
    assert H.margin(5000) == 100
    assert H.margin(0) == 0
    assert H.margin(-1) == 100 and H.margin(math.nan) == 100
    assert Hysteresis(accuracy_factor=0.5).margin(60) == 30


def test_clear_enter_and_exit() -> None:
    state, events = step(None, True, 50, 20, 10.0, H)
    assert events == (Detect.ENTER,) and state == FenceState(True, 10.0)
    state, events = step(state, True, 60, 20, 20.0, H)
    assert events == () and state == FenceState(True, 10.0)
    state, events = step(state, False, -50, 20, 30.0, H)
    assert events == (Detect.EXIT,) and state is None


def test_zero_accuracy_behaves_like_tile38() -> None:
    state, events = step(None, True, 0.001, 0.0, 1.0, H)
    assert events == (Detect.ENTER,)
    assert step(state, False, -0.001, 0.0, 2.0, H) == (None, (Detect.EXIT,))


def test_weak_enter_needs_confirmation() -> None:
    state, events = step(None, True, 5, 20, 1.0, H)
    assert events == () and state == FenceState(False, 1.0, pending=1)
    state, events = step(state, True, 5, 20, 2.0, H)
    assert events == (Detect.ENTER,) and state == FenceState(True, 2.0)


def test_weak_enter_reset_by_an_outside_report() -> None:
    state, _ = step(None, True, 5, 20, 1.0, H)
    state, events = step(state, False, -5, 20, 2.0, H)
    assert state is None and events == ()
    state, events = step(state, True, 5, 20, 3.0, H)
    assert events == () and state is not None and state.pending == 1


def test_weak_exit_needs_confirmation_and_resets() -> None:
    inside = FenceState(True, 0.0)
    state, events = step(inside, False, -5, 20, 1.0, H)
    assert events == () and state == FenceState(True, 0.0, pending=1)
    back, events = step(state, True, 5, 20, 2.0, H)
    assert events == () and back == inside
    state, _ = step(back, False, -5, 20, 3.0, H)
    assert step(state, False, -5, 20, 4.0, H) == (None, (Detect.EXIT,))


def test_dwell_fires_once_per_visit_on_a_virtual_clock() -> None:
    clock = [0.0]

    def tick(state: FenceState | None, inside: bool, seconds: float) -> tuple[FenceState | None, tuple[Detect, ...]]:
        clock[0] += seconds
        return step(state, inside, 50 if inside else -50, 10, clock[0], H, dwell_s=300)

    state, events = tick(None, True, 0)
    assert events == (Detect.ENTER,)
    state, events = tick(state, True, 299)
    assert events == ()
    state, events = tick(state, True, 1)
    assert events == (Detect.DWELL,) and state is not None and state.dwelt
    state, events = tick(state, True, 600)
    assert events == ()
    state, events = tick(state, False, 1)
    assert events == (Detect.EXIT,)
    state, events = tick(state, True, 1)  # a new visit dwells again
    state, events = tick(state, True, 300)
    assert events == (Detect.DWELL,)


def test_zero_dwell_fires_with_enter() -> None:
    assert step(None, True, 50, 10, 5.0, H, dwell_s=0) == (
        FenceState(True, 5.0, dwelt=True),
        (Detect.ENTER, Detect.DWELL),
    )


@settings(max_examples=200, deadline=None)
@given(
    depths=st.lists(st.floats(-19.9, 19.9, allow_nan=False), min_size=1, max_size=60),
    start_inside=st.booleans(),
)
def test_property_alternating_noise_within_margin_never_flaps(depths: list[float], start_inside: bool) -> None:
    """Reports inside the ±margin band that alternate sides change nothing."""
    state: FenceState | None = FenceState(True, 0.0) if start_inside else None
    signs = [1 if i % 2 == 0 else -1 for i in range(len(depths))]
    for i, (depth, sign) in enumerate(zip(depths, signs, strict=True)):
        d = abs(depth) * sign or 0.01 * sign
        state, events = step(state, d > 0, d, 20, float(i), H)
        assert events == ()
    assert (state is not None and state.inside) == start_inside


@settings(max_examples=200, deadline=None)
@given(depths=st.lists(st.floats(-500, 500, allow_nan=False).filter(lambda d: d != 0), max_size=80))
def test_property_every_change_is_justified(depths: list[float]) -> None:
    """A change of state needs a clear report or ``confirm_reports`` consecutive reports on the new side."""
    state: FenceState | None = None
    history: list[float] = []
    for i, d in enumerate(depths):
        was = state is not None and state.inside
        state, events = step(state, d > 0, d, 20, float(i), H)
        history.append(d)
        now = state is not None and state.inside
        if was != now:
            run = history[-H.confirm_reports :]
            assert abs(d) >= 20 or (len(run) == H.confirm_reports and all((x > 0) == now for x in run))
            assert events == ((Detect.ENTER,) if now else (Detect.EXIT,))
        else:
            assert events == ()


def east(metres: float) -> float:
    return 4.0 + metres / (M_PER_DEG * COS)


def test_advance_over_a_noisy_edge_walk() -> None:
    """A circle of 200 m; a subscriber walks in across the edge with ±30 m noise and 40 m accuracy."""
    from geofences.index import FenceIndex
    from geofences.model import Circle, Fence

    index = FenceIndex()
    index.upsert(Fence(1, Circle(4.0, 50.0, 200)))
    track = [400, 300, 230, 190, 215, 185, 210, 120, 60, 0, 60, 140, 190, 215, 185, 212, 260, 400]
    states: dict[int, FenceState] = {}
    seen: list[tuple[str, float]] = []
    for t, x in enumerate(track):
        report = Report("+32470000001", east(x), 50.0, 40.0, float(t))
        changes, transitions = advance(states, index.hits(report.lon, report.lat), report, index.signed_depth_m, H)
        states = apply(states, changes)
        seen += [(tr.detect.value, tr.at) for tr in transitions]
    # in for good at t=7 (clearly inside); out for good at t=16 (clearly outside): one enter, one exit
    assert seen == [("enter", 7.0), ("exit", 16.0)]


def test_advance_transition_fields_and_removed_fence() -> None:
    report = Report("+32470000001", 4.0, 50.0, 0.0, 100.0)

    def depth(fence_id: int, lon: float, lat: float) -> float:
        return -math.inf if fence_id == 2 else 10.0

    states = {2: FenceState(True, 1.0), 3: FenceState(True, 50.0)}
    changes, out = advance(states, [1, 3], report, depth, H, lambda f: 30.0 if f == 3 else None, lambda f: f != 2)
    assert changes == {1: FenceState(True, 100.0), 2: None, 3: FenceState(True, 50.0, dwelt=True)}
    assert out == [
        Transition("+32470000001", 1, Detect.ENTER, 100.0, 4.0, 50.0, 100.0),
        Transition("+32470000001", 3, Detect.DWELL, 100.0, 4.0, 50.0, 50.0),
    ]


def test_needs_attention() -> None:
    assert not needs_attention({1: FenceState(True, 0.0)}, lambda f: None)
    assert needs_attention({1: FenceState(True, 0.0)}, lambda f: 60.0)
    assert not needs_attention({1: FenceState(True, 0.0, dwelt=True)}, lambda f: 60.0)
    assert needs_attention({1: FenceState(True, 0.0, pending=1)}, lambda f: None)
    assert needs_attention({1: FenceState(False, 0.0, pending=1)}, lambda f: None)


@pytest.mark.parametrize("confirm", [1, 3])
def test_confirm_reports_setting(confirm: int) -> None:
    h = Hysteresis(max_margin_m=100, confirm_reports=confirm)
    state: FenceState | None = None
    for i in range(confirm):
        state, events = step(state, True, 1, 20, float(i), h)
    assert events == (Detect.ENTER,)
