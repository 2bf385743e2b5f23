"""The consent registry on PostgreSQL: every change is a consent event, a projection update and an audit row,
all in one transaction; reads give the grants that :func:`lbs.consent.decision.decide` needs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from lbs.consent import audit
from lbs.consent.decision import Decision, Grant, Precision, Purpose, decide
from lbs.consent.projection import Action, ConsentEvent, SubjectState, apply
from lbs.db import Conn
from lbs.errors import InvalidArgument, NotFound


@dataclass(frozen=True)
class Source:
    """Who made a change and the proof of it: the MO id, the API request id and caller, or the officer and reason."""

    kind: str  # sms | api | officer (system for expiry/erasure jobs)
    actor: str
    proof: dict[str, Any]


@dataclass(frozen=True)
class Subject:
    msisdn: str
    ref: str  # pseudonym used in events and audit


_GRANTS_SQL = (
    "SELECT g.*, a.name AS application FROM consent_grants g JOIN applications a ON a.id = g.application_id"
    " WHERE g.msisdn = $1 ORDER BY g.id"
)


def _grant_of(r: asyncpg.Record) -> Grant:
    return Grant(
        id=r["id"],
        application=r["application"],
        purpose=Purpose(r["purpose"]),
        precision=Precision(r["precision"]),
        granted_at=r["granted_at"],
        expires_at=r["expires_at"],
        paused_until=r["paused_until"],
        revoked_at=r["revoked_at"],
    )


async def _load(conn: Conn, msisdn: str, *, lock: bool) -> SubjectState:
    """The subject's projection; with ``lock``, its rows stay locked until the transaction ends."""
    # Locking the subscriber row serialises every change of one subject, the first grant included.
    paused_sql = "SELECT location_paused_until FROM subscribers WHERE msisdn = $1"
    paused = await conn.fetchval(paused_sql + " FOR UPDATE" if lock else paused_sql, msisdn)
    rows = await conn.fetch(_GRANTS_SQL, msisdn)
    state = SubjectState(paused_until=paused)
    for r in rows:
        g = _grant_of(r)
        state.grants[(g.application, g.purpose)] = g
    return state


async def grants_of(conn: Conn, msisdn: str) -> tuple[list[Grant], datetime | None]:
    """Current grants and the subscriber-wide pause (read only, no locks)."""
    state = await _load(conn, msisdn, lock=False)
    return list(state.grants.values()), state.paused_until


async def check(conn: Conn, msisdn: str, application: str, purpose: Purpose, now: datetime) -> Decision:
    """The decision for one request, from the database's current state."""
    grants, paused = await grants_of(conn, msisdn)
    return decide(grants, application, purpose, now, subscriber_paused_until=paused)


async def application_id(conn: Conn, name: str) -> int:
    app_id = await conn.fetchval("SELECT id FROM applications WHERE name = $1", name.upper())
    if app_id is None:
        raise NotFound(f"no application named {name!r}")
    return int(app_id)


async def require_subscriber(conn: Conn, msisdn: str) -> None:
    if await conn.fetchval("SELECT 1 FROM subscribers WHERE msisdn = $1", msisdn) is None:
        raise NotFound(f"no subscriber {msisdn}")


async def _write_grants(conn: Conn, msisdn: str, state: SubjectState, source: Source) -> None:
    for g in state.grants.values():
        await conn.execute(
            "INSERT INTO consent_grants (id, msisdn, application_id, purpose, precision, source, proof, granted_at,"
            " expires_at, paused_until, revoked_at, updated_at)"
            " OVERRIDING SYSTEM VALUE"
            " SELECT $1, $2, a.id, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, now()"
            " FROM applications a WHERE a.name = $3"
            " ON CONFLICT (id) DO UPDATE SET precision = EXCLUDED.precision, granted_at = EXCLUDED.granted_at,"
            " expires_at = EXCLUDED.expires_at, paused_until = EXCLUDED.paused_until,"
            " revoked_at = EXCLUDED.revoked_at, updated_at = now(),"
            " source = CASE WHEN consent_grants.granted_at = EXCLUDED.granted_at THEN consent_grants.source"
            "   ELSE EXCLUDED.source END,"
            " proof = CASE WHEN consent_grants.granted_at = EXCLUDED.granted_at THEN consent_grants.proof"
            "   ELSE EXCLUDED.proof END",
            g.id,
            msisdn,
            g.application,
            g.purpose.value,
            g.precision.value,
            source.kind if source.kind in ("sms", "api", "officer") else "officer",
            json.dumps(source.proof),
            g.granted_at,
            g.expires_at,
            g.paused_until,
            g.revoked_at,
        )
    await conn.execute(
        "UPDATE subscribers SET location_paused_until = $2 WHERE msisdn = $1", msisdn, state.paused_until
    )


async def record(conn: Conn, subject: Subject, event: ConsentEvent, source: Source) -> SubjectState:
    """Apply one consent event: event row, projection, audit row — one transaction, or nothing."""
    async with conn.transaction():
        await require_subscriber(conn, subject.msisdn)
        app_id = await application_id(conn, event.application) if event.application else None
        state = await _load(conn, subject.msisdn, lock=True)
        new_id = 0
        if event.action == Action.GRANT:
            new_id = int(await conn.fetchval("SELECT nextval(pg_get_serial_sequence('consent_grants', 'id'))"))
        apply(state, event, new_id)
        grant_id = _grant_id(state, event)
        if event.action == Action.ERASE:
            await conn.execute("DELETE FROM consent_grants WHERE msisdn = $1", subject.msisdn)
        await _write_grants(conn, subject.msisdn, state, source)
        await conn.execute(
            "INSERT INTO consent_events (subject, grant_id, application_id, purpose, action, precision, source, proof,"
            " expires_at, paused_until, occurred_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8::jsonb,$9,$10,$11)",
            subject.ref,
            grant_id,
            app_id,
            event.purpose.value if event.purpose else None,
            event.action.value,
            event.precision.value if event.precision else None,
            source.kind,
            json.dumps(source.proof),
            event.expires_at,
            event.paused_until,
            event.at,
        )
        await audit.append(
            conn,
            subject.ref,
            audit.AuditEntry(
                kind="erasure" if event.action == Action.ERASE else "consent",
                actor=source.actor,
                occurred_at=event.at,
                application_id=app_id,
                purpose=event.purpose.value if event.purpose else None,
                precision=event.precision.value if event.precision else None,
                grant_id=grant_id,
                details={"action": event.action.value, "source": source.kind, "proof": source.proof},
            ),
        )
    return state


def _grant_id(state: SubjectState, event: ConsentEvent) -> int | None:
    if event.application is None or event.purpose is None:
        return None
    g = state.grants.get((event.application, event.purpose))
    return g.id if g else None


def grant_event(
    application: str, purpose: Purpose, precision: Precision, now: datetime, validity: timedelta
) -> ConsentEvent:
    """A grant event with its expiry; validity must be positive."""
    if validity <= timedelta(0):
        raise InvalidArgument("a grant's validity must be positive")
    return ConsentEvent(Action.GRANT, now, application.upper(), purpose, precision, expires_at=now + validity)
