"""Consent events -> current grants, as a pure fold. The database projection is updated with this same code."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from lbs.consent.decision import Grant, Precision, Purpose


class Action(StrEnum):
    REQUEST = "request"
    GRANT = "grant"
    PAUSE = "pause"
    RESUME = "resume"
    REVOKE = "revoke"
    EXPIRE = "expire"
    ERASE = "erase"


@dataclass(frozen=True)
class ConsentEvent:
    """One change. ``application``/``purpose`` None means "every" (``LOC OFF``, ``PAUSE 2H``)."""

    action: Action
    at: datetime
    application: str | None = None
    purpose: Purpose | None = None
    precision: Precision | None = None
    expires_at: datetime | None = None
    paused_until: datetime | None = None


@dataclass
class SubjectState:
    """Everything consent-related of one subscriber: grants by (application, purpose) and a global pause."""

    grants: dict[tuple[str, Purpose], Grant] = field(default_factory=dict)
    paused_until: datetime | None = None


def _matches(grant: Grant, event: ConsentEvent) -> bool:
    return (event.application is None or grant.application == event.application) and (
        event.purpose is None or grant.purpose == event.purpose
    )


def _grant(state: SubjectState, event: ConsentEvent, new_id: int) -> None:
    if event.application is None or event.purpose is None or event.precision is None or event.expires_at is None:
        raise ValueError("a grant names one application, one purpose, a precision and an expiry")
    key = (event.application, event.purpose)
    old = state.grants.get(key)
    state.grants[key] = Grant(
        id=old.id if old else new_id,
        application=event.application,
        purpose=event.purpose,
        precision=event.precision,
        granted_at=event.at,
        expires_at=event.expires_at,
    )


def _update(state: SubjectState, event: ConsentEvent, **changes: datetime | None) -> list[Grant]:
    changed = []
    for key, g in state.grants.items():
        if _matches(g, event):
            state.grants[key] = replace(g, **changes)  # type: ignore[arg-type]
            changed.append(state.grants[key])
    return changed


def apply(state: SubjectState, event: ConsentEvent, new_id: int = 0) -> SubjectState:
    """Fold one event into ``state`` (mutated and returned). ``new_id`` names a grant created by this event."""
    if event.action == Action.GRANT:
        _grant(state, event, new_id)
    elif event.action == Action.PAUSE:
        if event.application is None and event.purpose is None:
            state.paused_until = event.paused_until
        else:
            _update(state, event, paused_until=event.paused_until)
    elif event.action == Action.RESUME:
        if event.application is None and event.purpose is None:
            state.paused_until = None
        _update(state, event, paused_until=None)
    elif event.action == Action.REVOKE:
        for g in list(state.grants.values()):
            if _matches(g, event) and g.revoked_at is None:
                state.grants[(g.application, g.purpose)] = replace(g, revoked_at=event.at)
    elif event.action == Action.ERASE:
        state.grants.clear()
        state.paused_until = None
    return state  # REQUEST and EXPIRE record facts; they change no grant
