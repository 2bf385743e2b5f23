"""What privacy officers do beyond grants: audit trail, subject access export, erasure, retention."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from lbs.consent import audit, registry
from lbs.consent.projection import Action, ConsentEvent
from lbs.consent.service import ConsentService
from lbs.db import Executor
from lbs.settings import Settings

DATA_CLASSES = ("positions", "presence", "message_bodies")

# What each data class means in storage: statements that forget what is older than the cutoff ($1).
# Presence expires in Redis by its TTL (retention_presence_s); raw positions have no table (docs/privacy.md).
RETENTION_SQL: dict[str, list[str]] = {
    "positions": [],
    "presence": [],
    "message_bodies": [
        "UPDATE mt_messages SET body = NULL WHERE body IS NOT NULL AND created_at < $1"
        " AND status IN ('delivered', 'failed', 'expired')",
        "UPDATE mo_messages SET body = NULL WHERE body IS NOT NULL AND received_at < $1 AND status <> 'received'",
    ],
}


def _rows(records: list[asyncpg.Record]) -> list[dict[str, Any]]:
    out = []
    for r in records:
        row = {}
        for k, v in dict(r).items():
            row[k] = v.isoformat() if isinstance(v, datetime) else (json.loads(v) if k in ("details", "proof") else v)
        out.append(row)
    return out


async def audit_trail(db: Executor, pseudonym_key: str, msisdn: str) -> list[dict[str, Any]]:
    """The subject's audit chain, oldest first, with application names."""
    rows = await db.fetch(
        "SELECT l.seq, l.kind, a.name AS application, l.purpose, l.precision, l.grant_id, l.request_id, l.actor,"
        " l.details, l.occurred_at FROM audit_log l LEFT JOIN applications a ON a.id = l.application_id"
        " WHERE l.subject = $1 ORDER BY l.seq",
        audit.pseudonym(pseudonym_key, msisdn),
    )
    return _rows(rows)


async def export(db: Executor, settings: Settings, msisdn: str) -> dict[str, Any]:
    """Everything the platform holds about ``msisdn`` (GDPR art. 15)."""
    subject = audit.pseudonym(settings.pseudonym_key, msisdn)
    grants = await db.fetch(
        "SELECT a.name AS application, g.purpose, g.precision, g.source, g.proof, g.granted_at, g.expires_at,"
        " g.paused_until, g.revoked_at FROM consent_grants g JOIN applications a ON a.id = g.application_id"
        " WHERE g.msisdn = $1 ORDER BY g.id",
        msisdn,
    )
    mts = await db.fetch(
        "SELECT id, source, body, status, message_class, brand, created_at, done_at FROM mt_messages"
        " WHERE msisdn = $1 ORDER BY id",
        msisdn,
    )
    mos = await db.fetch(
        "SELECT id, destination, body, keyword, received_at FROM mo_messages WHERE msisdn = $1 ORDER BY id", msisdn
    )
    bills = await db.fetch(
        "SELECT idempotency_key, event_type, amount_minor, currency, occurred_at FROM billing_cdrs"
        " WHERE msisdn = $1 ORDER BY id",
        msisdn,
    )
    opted = await db.fetch("SELECT brand, created_at FROM opt_outs WHERE subject = $1", subject)
    return {
        "msisdn": msisdn,
        "grants": _rows(grants),
        "audit": await audit_trail(db, settings.pseudonym_key, msisdn),
        "messages_received": _rows(mos),
        "messages_sent": _rows(mts),
        "billing": _rows(bills),
        "opt_outs": _rows(opted),
    }


async def erase(
    pool: asyncpg.Pool[Any], service: ConsentService, msisdn: str, source: registry.Source
) -> dict[str, int]:
    """Erase ``msisdn`` (GDPR art. 17): grants deleted, messages and bills pseudonymised, the subscriber removed.

    The audit chain and consent events already hold only the pseudonym; the opt-out list is keyed by it, so an
    erased subscriber who had opted out is still never sent marketing.
    """
    pseudo = "erased:" + service.subject(msisdn).ref[:32]
    counts: dict[str, int] = {}
    async with pool.acquire() as conn, conn.transaction():
        await registry.record(conn, service.subject(msisdn), ConsentEvent(Action.ERASE, service.clock()), source)
        await conn.execute("SET LOCAL lbs.pseudonymise = 'on'")
        for table, sql in (
            ("mt_messages", "UPDATE mt_messages SET msisdn = $2, body = NULL WHERE msisdn = $1"),
            ("mo_messages", "UPDATE mo_messages SET msisdn = $2, body = NULL WHERE msisdn = $1"),
            ("billing_cdrs", "UPDATE billing_cdrs SET msisdn = $2 WHERE msisdn = $1"),
        ):
            counts[table] = int((await conn.execute(sql, msisdn, pseudo)).split()[-1])
        counts["subscribers"] = int(
            (await conn.execute("DELETE FROM subscribers WHERE msisdn = $1", msisdn)).split()[-1]
        )
    return counts


async def retention(db: Executor, settings: Settings) -> dict[str, int]:
    """Retention in seconds per data class: the officer's setting, else the default from settings."""
    defaults = {
        "positions": settings.retention_positions_s,
        "presence": settings.retention_presence_s,
        "message_bodies": settings.retention_message_bodies_s,
    }
    rows = await db.fetch("SELECT data_class, retention_s FROM retention_policies")
    return {**defaults, **{r["data_class"]: r["retention_s"] for r in rows}}


async def set_retention(db: Executor, changes: dict[str, int]) -> None:
    for data_class, seconds in changes.items():
        await db.execute(
            "INSERT INTO retention_policies (data_class, retention_s, updated_at) VALUES ($1, $2, now())"
            " ON CONFLICT (data_class) DO UPDATE SET retention_s = EXCLUDED.retention_s, updated_at = now()",
            data_class,
            seconds,
        )


async def run_retention(pool: asyncpg.Pool[Any], settings: Settings, now: datetime) -> dict[str, int]:
    """Forget everything past its retention at ``now``; returns rows touched per data class."""
    limits = await retention(pool, settings)
    touched: dict[str, int] = {}
    for data_class, statements in RETENTION_SQL.items():
        cutoff = now - timedelta(seconds=limits[data_class])
        total = 0
        for sql in statements:
            total += int((await pool.execute(sql, cutoff)).split()[-1])
        touched[data_class] = total
    return touched
