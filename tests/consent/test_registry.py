"""The consent registry on real PostgreSQL: events, projection and audit in one transaction; the chain verifies."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from lbs.consent import audit, registry
from lbs.consent.decision import Precision, Purpose, Reason
from lbs.consent.projection import Action, ConsentEvent
from lbs.errors import InvalidArgument, NotFound
from lbs.settings import Settings

MSISDN = "+32470000001"
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
SMS = registry.Source("sms", MSISDN, {"mo_message_id": "mo-1"})


@pytest.fixture
async def subject(db: asyncpg.Connection[Any], settings: Settings) -> registry.Subject:
    await db.execute("INSERT INTO providers (name) VALUES ('CityGuide')")
    await db.execute("INSERT INTO applications (provider_id, name) VALUES (1, 'CITYGUIDE'), (1, 'PROMOCITY')")
    await db.execute("INSERT INTO subscribers (msisdn) VALUES ($1), ('+32470000002')", MSISDN)
    return registry.Subject(MSISDN, audit.pseudonym(settings.pseudonym_key, MSISDN))


def granted(purpose: Purpose = Purpose.ACTIVE_LOOKUP, precision: Precision = Precision.EXACT) -> ConsentEvent:
    return registry.grant_event("cityguide", purpose, precision, NOW, timedelta(days=365))


async def test_grant_then_revoke(db: asyncpg.Connection[Any], subject: registry.Subject) -> None:
    await registry.record(db, subject, granted(), SMS)
    d = await registry.check(db, MSISDN, "CITYGUIDE", Purpose.ACTIVE_LOOKUP, NOW + timedelta(minutes=1))
    assert d.allowed and d.precision == Precision.EXACT and d.grant_id is not None
    row = await db.fetchrow("SELECT source, proof FROM consent_grants")
    assert row is not None and row["source"] == "sms" and "mo-1" in row["proof"]
    revoke = ConsentEvent(Action.REVOKE, NOW + timedelta(minutes=2), "CITYGUIDE", None)
    await registry.record(db, subject, revoke, SMS)
    d = await registry.check(db, MSISDN, "CITYGUIDE", Purpose.ACTIVE_LOOKUP, NOW + timedelta(minutes=3))
    assert (d.allowed, d.reason) == (False, Reason.CONSENT_REVOKED)
    actions = [r["action"] for r in await db.fetch("SELECT action FROM consent_events ORDER BY id")]
    assert actions == ["grant", "revoke"]
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE kind = 'consent'") == 2


async def test_events_and_audit_never_hold_the_msisdn(db: asyncpg.Connection[Any], subject: registry.Subject) -> None:
    await registry.record(db, subject, granted(), registry.Source("api", "req-9", {"request_id": "req-9"}))
    for table in ("consent_events", "audit_log"):
        rows = await db.fetch(f"SELECT * FROM {table}")
        assert rows and MSISDN not in str([dict(r) for r in rows])


async def test_subscriber_pause(db: asyncpg.Connection[Any], subject: registry.Subject) -> None:
    await registry.record(db, subject, granted(), SMS)
    pause = ConsentEvent(Action.PAUSE, NOW + timedelta(minutes=1), paused_until=NOW + timedelta(hours=2))
    await registry.record(db, subject, pause, SMS)
    d = await registry.check(db, MSISDN, "CITYGUIDE", Purpose.ACTIVE_LOOKUP, NOW + timedelta(hours=1))
    assert d.reason == Reason.CONSENT_PAUSED
    d = await registry.check(db, MSISDN, "CITYGUIDE", Purpose.ACTIVE_LOOKUP, NOW + timedelta(hours=3))
    assert d.allowed


async def test_erase_removes_grants_keeps_pseudonymous_history(
    db: asyncpg.Connection[Any], subject: registry.Subject
) -> None:
    await registry.record(db, subject, granted(), SMS)
    erase = ConsentEvent(Action.ERASE, NOW + timedelta(minutes=1))
    await registry.record(db, subject, erase, registry.Source("officer", "dpo", {"reason": "art. 17 request"}))
    assert await db.fetchval("SELECT count(*) FROM consent_grants") == 0
    d = await registry.check(db, MSISDN, "CITYGUIDE", Purpose.ACTIVE_LOOKUP, NOW + timedelta(minutes=2))
    assert not d.allowed
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE kind = 'erasure'") == 1


async def test_unknown_subject_or_application_changes_nothing(
    db: asyncpg.Connection[Any], subject: registry.Subject, settings: Settings
) -> None:
    stranger = registry.Subject("+32479999999", audit.pseudonym(settings.pseudonym_key, "+32479999999"))
    with pytest.raises(NotFound):
        await registry.record(db, stranger, granted(), SMS)
    bad_app = registry.grant_event("NOPE", Purpose.MARKETING, Precision.EXACT, NOW, timedelta(days=1))
    with pytest.raises(NotFound):
        await registry.record(db, subject, bad_app, SMS)
    with pytest.raises(InvalidArgument):
        registry.grant_event("CITYGUIDE", Purpose.MARKETING, Precision.EXACT, NOW, timedelta(0))
    for table in ("consent_grants", "consent_events", "audit_log"):
        assert await db.fetchval(f"SELECT count(*) FROM {table}") == 0


async def test_append_only_tables_refuse_update_and_delete(
    db: asyncpg.Connection[Any], subject: registry.Subject
) -> None:
    await registry.record(db, subject, granted(), SMS)
    for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "UPDATE consent_events SET source = 'x'"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await db.execute(sql)


async def test_chain_verifies_and_tampering_is_found(db: asyncpg.Connection[Any], subject: registry.Subject) -> None:
    await registry.record(db, subject, granted(), SMS)
    await registry.record(db, subject, granted(Purpose.GEOFENCING, Precision.COARSE), SMS)
    await registry.record(db, subject, ConsentEvent(Action.REVOKE, NOW + timedelta(hours=1), "CITYGUIDE"), SMS)
    checked, broken = await audit.verify(db)
    assert (checked, broken) == (3, None)
    # Someone with table-owner rights switches the guard off and rewrites history:
    await db.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    await db.execute("UPDATE audit_log SET purpose = 'marketing' WHERE seq = 2")
    await db.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    _, broken = await audit.verify(db)
    assert broken is not None and broken.seq == 2 and "hash" in broken.reason


async def test_concurrent_changes_keep_one_chain(settings: Settings, subject: registry.Subject) -> None:
    pool = await asyncpg.create_pool(settings.database_url, min_size=4, max_size=8)
    assert pool is not None
    try:

        async def change(i: int) -> None:
            async with pool.acquire() as conn:
                ev = registry.grant_event(
                    "CITYGUIDE", Purpose.ACTIVE_LOOKUP, Precision.EXACT, NOW, timedelta(days=i + 1)
                )
                await registry.record(conn, subject, ev, SMS)

        await asyncio.gather(*(change(i) for i in range(20)))
        async with pool.acquire() as conn:
            checked, broken = await audit.verify(conn)
            assert (checked, broken) == (20, None)
            assert await conn.fetchval("SELECT count(*) FROM consent_grants") == 1
    finally:
        await pool.close()
