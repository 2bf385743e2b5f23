"""decide() and the event fold: exhaustive cases, then random event sequences against the privacy invariants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbs.consent.decision import Grant, Precision, Purpose, Reason, decide
from lbs.consent.projection import Action, ConsentEvent, SubjectState, apply

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def grant(**kw: object) -> Grant:
    base: dict[str, object] = {
        "id": 1,
        "application": "CITYGUIDE",
        "purpose": Purpose.ACTIVE_LOOKUP,
        "precision": Precision.EXACT,
        "granted_at": T0,
        "expires_at": T0 + 100 * H,
    }
    return Grant(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("g", "now", "reason"),
    [
        (grant(), T0 + H, Reason.ALLOWED),
        (grant(), T0 - H, Reason.CONSENT_REQUIRED),
        (grant(revoked_at=T0 + H), T0 + 2 * H, Reason.CONSENT_REVOKED),
        (grant(revoked_at=T0 + 2 * H), T0 + H, Reason.ALLOWED),
        (grant(), T0 + 100 * H, Reason.CONSENT_EXPIRED),
        (grant(paused_until=T0 + 2 * H), T0 + H, Reason.CONSENT_PAUSED),
        (grant(paused_until=T0 + 2 * H), T0 + 2 * H, Reason.ALLOWED),
        (grant(application="OTHER"), T0 + H, Reason.CONSENT_REQUIRED),
        (grant(purpose=Purpose.GEOFENCING), T0 + H, Reason.CONSENT_REQUIRED),
    ],
)
def test_decide_cases(g: Grant, now: datetime, reason: Reason) -> None:
    d = decide([g], "CITYGUIDE", Purpose.ACTIVE_LOOKUP, now)
    assert d.reason == reason
    assert d.allowed == (reason == Reason.ALLOWED)
    assert d.precision == (g.precision if d.allowed else None)


def test_subscriber_pause_overrides_every_grant() -> None:
    d = decide([grant()], "CITYGUIDE", Purpose.ACTIVE_LOOKUP, T0 + H, subscriber_paused_until=T0 + 3 * H)
    assert (d.allowed, d.reason) == (False, Reason.CONSENT_PAUSED)
    d = decide([grant()], "CITYGUIDE", Purpose.ACTIVE_LOOKUP, T0 + 3 * H, subscriber_paused_until=T0 + 3 * H)
    assert d.allowed


def test_coarse_grant_gives_coarse() -> None:
    d = decide([grant(precision=Precision.COARSE)], "CITYGUIDE", Purpose.ACTIVE_LOOKUP, T0 + H)
    assert d.precision == Precision.COARSE


def test_grant_needs_everything() -> None:
    with pytest.raises(ValueError, match="grant names"):
        apply(SubjectState(), ConsentEvent(Action.GRANT, T0, "CITYGUIDE", Purpose.MARKETING))


# --- property: random histories never let a position out when they should not -------------------------------

APPS = ("CITYGUIDE", "PROMOCITY")
PURPOSES = tuple(Purpose)


@st.composite
def histories(draw: st.DrawFn) -> list[ConsentEvent]:
    n = draw(st.integers(0, 25))
    t = T0
    events = []
    for _ in range(n):
        t += timedelta(minutes=draw(st.integers(0, 180)))
        action = draw(st.sampled_from([Action.GRANT, Action.PAUSE, Action.RESUME, Action.REVOKE, Action.ERASE]))
        app = draw(st.sampled_from((*APPS, None)))
        purpose = draw(st.sampled_from((*PURPOSES, None)))
        if action == Action.GRANT:
            app, purpose = app or APPS[0], purpose or PURPOSES[0]
            precision = draw(st.sampled_from(tuple(Precision)))
            expires = t + timedelta(minutes=draw(st.integers(1, 2000)))
            events.append(ConsentEvent(action, t, app, purpose, precision, expires_at=expires))
        elif action == Action.PAUSE:
            until = t + timedelta(minutes=draw(st.integers(1, 600)))
            events.append(ConsentEvent(action, t, app, purpose, paused_until=until))
        elif action == Action.ERASE:
            events.append(ConsentEvent(action, t))  # erasure is subject-wide
        else:
            events.append(ConsentEvent(action, t, app, purpose))
    return events


def covers(e: ConsentEvent, app: str, purpose: Purpose) -> bool:
    return (e.application in (None, app)) and (e.purpose in (None, purpose))


def oracle_may_disclose(events: list[ConsentEvent], app: str, purpose: Purpose, now: datetime) -> Precision | None:
    """An independent reading of the rules: the last grant, and nothing since that forbids."""
    past = [e for e in events if e.at <= now]
    grants = [
        i for i, e in enumerate(past) if e.action == Action.GRANT and (e.application, e.purpose) == (app, purpose)
    ]
    if not grants:
        return None
    g = past[grants[-1]]
    assert g.expires_at is not None
    if now >= g.expires_at:
        return None  # after expiry
    pause_until: datetime | None = None
    global_pause: datetime | None = None
    for e in past[grants[-1] + 1 :]:
        if e.action == Action.ERASE or (e.action == Action.REVOKE and covers(e, app, purpose)):
            return None  # after a revoke or an erasure
    for e in past:
        if e.action == Action.PAUSE and e.application is None and e.purpose is None:
            global_pause = e.paused_until
        elif (e.action == Action.RESUME and e.application is None and e.purpose is None) or e.action == Action.ERASE:
            global_pause = None
    for e in past[grants[-1] + 1 :]:
        if e.action == Action.PAUSE and covers(e, app, purpose) and not (e.application is None and e.purpose is None):
            pause_until = e.paused_until
        elif e.action == Action.RESUME and covers(e, app, purpose):
            pause_until = None
    if (pause_until and now < pause_until) or (global_pause and now < global_pause):
        return None  # during a pause
    return g.precision


@settings(max_examples=400, deadline=None)
@given(histories(), st.integers(0, 25 * 180 + 2000), st.sampled_from(APPS), st.sampled_from(PURPOSES))
def test_no_history_lets_a_position_out_when_it_should_not(
    events: list[ConsentEvent], minutes: int, app: str, purpose: Purpose
) -> None:
    now = T0 + timedelta(minutes=minutes)
    state = SubjectState()
    for i, e in enumerate(ev for ev in events if ev.at <= now):
        apply(state, e, new_id=i + 1)
    d = decide(state.grants.values(), app, purpose, now, subscriber_paused_until=state.paused_until)
    expected = oracle_may_disclose(events, app, purpose, now)
    assert d.allowed == (expected is not None)
    if d.allowed:
        assert d.precision == expected  # never finer than granted
