"""The durable MT outbox: every MT is a row first (in the caller's transaction), then a worker sends it.

Status: queued -> sending -> submitted -> delivered | failed | expired; deferred when it must wait (marketing
window, throttling, transport error). A row leaves ``sending`` only when the SMSC answered: a message that got
a ``submit_sm_resp`` is never submitted again. A crash between submit and response leaves it in ``sending``;
those rows are re-queued after a grace period (at-least-once there: see docs/messaging.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import structlog

from lbs.billing.errors import PaymentRequired
from lbs.billing.hooks import hold_mt
from lbs.db import Conn, Executor
from lbs.errors import InvalidArgument
from lbs.messaging import gsm, rules
from lbs.msisdn import is_short_code, to_e164
from lbs.pseudonym import pseudonym

log = structlog.get_logger(__name__)

MAX_SEGMENTS = 10  # about 1,500 GSM-7 characters: anything longer is refused, not silently cut
OADC_MAX = 11  # alphanumeric sender IDs: at most 11 characters (GSM 03.40)


@dataclass(frozen=True)
class MtRequest:
    """What a caller asks to send."""

    msisdn: str
    body: str
    source: str
    message_class: str = "transactional"  # or "marketing"
    brand: str | None = None
    language: str = "en"
    application_id: int | None = None
    idempotency_key: str | None = None
    flash: bool = False
    provider_id: int | None = None  # whose brand: the daily slot is per provider and brand (None: the platform's)


@dataclass(frozen=True)
class Enqueued:
    id: int | None  # None: suppressed
    status: str  # queued | deferred | suppressed:<reason> | duplicate
    segments: int = 0


def validate_source(source: str) -> str:
    if is_short_code(source) or (source.isalnum() and 1 <= len(source) <= OADC_MAX):
        return source
    raise InvalidArgument(f"sender must be a short code or an alphanumeric OADC of at most 11 characters: {source!r}")


def prepare(req: MtRequest, short_code: str) -> tuple[str, str, int]:
    """(final text, encoding, segments): marketing gets its opt-out mention; too long is refused."""
    if not req.body.strip():
        raise InvalidArgument("an MT needs a text")
    text = rules.with_opt_out(req.body, req.language, short_code) if req.message_class == "marketing" else req.body
    segments = gsm.segment_count(text)
    if segments > MAX_SEGMENTS:
        raise InvalidArgument(f"text needs {segments} SMS parts; at most {MAX_SEGMENTS} are sent")
    return text, gsm.encoding_for(text), segments


async def opted_out(conn: Executor, subject: str, brand: str | None) -> bool:
    brands = ["*", brand.upper()] if brand else ["*"]
    return bool(await conn.fetchval("SELECT 1 FROM opt_outs WHERE subject = $1 AND brand = ANY($2)", subject, brands))


async def enqueue(conn: Conn, req: MtRequest, *, now: datetime, pseudonym_key: str, short_code: str) -> Enqueued:
    """Write one MT to the outbox inside the caller's transaction (marketing rules checked here, again at dispatch).

    An application's MT is billed to its provider: a prepaid provider's balance holds the price of every segment
    in the same transaction (docs/billing.md). When the balance cannot pay, nothing of this MT is written (a
    savepoint) and the result is ``suppressed:payment_required``: the caller's other work stays, and a worker
    that fires promotions is not stopped by one provider's empty balance.
    """
    if req.application_id is None:
        return await _enqueue(conn, req, now=now, pseudonym_key=pseudonym_key, short_code=short_code)
    try:
        async with conn.transaction():
            done = await _enqueue(conn, req, now=now, pseudonym_key=pseudonym_key, short_code=short_code)
            if done.id is not None:
                await hold_mt(conn, req.application_id, mt_id=done.id, segments=done.segments, now=now)
    except PaymentRequired as refused:
        log.info("mt refused: prepaid balance", application_id=req.application_id, reason=refused.message)
        return Enqueued(None, "suppressed:payment_required")
    return done


async def _enqueue(conn: Conn, req: MtRequest, *, now: datetime, pseudonym_key: str, short_code: str) -> Enqueued:
    if req.message_class not in ("transactional", "marketing"):
        raise InvalidArgument(f"unknown message class {req.message_class!r}")
    msisdn = to_e164(req.msisdn)
    source = validate_source(req.source)
    text, encoding, segments = prepare(req, short_code)
    not_before = now
    if req.message_class == "marketing":
        subject = pseudonym(pseudonym_key, msisdn)
        if await opted_out(conn, subject, req.brand):
            return Enqueued(None, "suppressed:opted_out")
        country = rules.country_of(msisdn)
        not_before = rules.next_marketing_slot(now, country)
        day = rules.local_day(not_before, country)
        inserted = await conn.fetchval(
            "INSERT INTO marketing_sends (subject, brand, day, provider_id) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            subject,
            (req.brand or "*").upper(),
            day,
            req.provider_id or 0,
        )
        if inserted is None:
            return Enqueued(None, "suppressed:daily_brand_cap")
    status = "queued" if not_before <= now else "deferred"
    row_id = await conn.fetchval(
        "INSERT INTO mt_messages (msisdn, source, body, encoding, segments, message_class, brand, application_id,"
        " flash, status, not_before, idempotency_key, created_at, updated_at)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$13)"  # created_at: the clock's, as retention compares
        " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        msisdn,
        source,
        text,
        encoding,
        segments,
        req.message_class,
        req.brand,
        req.application_id,
        req.flash,
        status,
        not_before,
        req.idempotency_key,
        now,
    )
    if row_id is None:
        return Enqueued(None, "duplicate")
    if req.message_class == "marketing":
        await conn.execute(
            "UPDATE marketing_sends SET mt_id = $1 WHERE subject = $2 AND brand = $3 AND day = $4 AND provider_id = $5",
            row_id,
            pseudonym(pseudonym_key, msisdn),
            (req.brand or "*").upper(),
            rules.local_day(not_before, rules.country_of(msisdn)),
            req.provider_id or 0,
        )
    return Enqueued(int(row_id), status, segments)


async def claim(pool: Executor, limit: int, now: datetime) -> list[asyncpg.Record]:
    """Take up to ``limit`` due MTs (oldest first) and mark them ``sending``; other workers skip them."""
    return await pool.fetch(
        "UPDATE mt_messages SET status = 'sending', attempts = attempts + 1, updated_at = $2 WHERE id IN ("
        " SELECT id FROM mt_messages WHERE status IN ('queued', 'deferred') AND not_before <= $2"
        " ORDER BY not_before, id LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING *",
        limit,
        now,
    )


async def record_submitted(conn: Conn, accepted: list[tuple[int, int, str]], now: datetime) -> list[asyncpg.Record]:
    """Mark MTs the SMSC accepted, from ``(mt id, attempt, smsc id)``; returns the rows it changed.

    Only the claim that was submitted may change its row (``attempts`` matches). A row a recovery sweep put back
    to ``deferred`` before this result landed is still marked: it was accepted, and must not be sent again.
    """
    return await conn.fetch(
        "UPDATE mt_messages m SET status = 'submitted', smsc_message_id = u.smsc_id, submitted_at = $4,"
        " updated_at = $4 FROM unnest($1::bigint[], $2::int[], $3::text[]) AS u(id, attempt, smsc_id)"
        " WHERE m.id = u.id AND m.attempts = u.attempt AND m.status IN ('sending', 'deferred') RETURNING m.*",
        [i for i, _, _ in accepted],
        [a for _, a, _ in accepted],
        [v for _, _, v in accepted],
        now,
    )


async def defer(pool: Executor, mt_id: int, until: datetime, reason: str, attempt: int | None = None) -> None:
    """Back to the queue until ``until``; with ``attempt``, only if the row was not claimed again since."""
    await pool.execute(
        "UPDATE mt_messages SET status = 'deferred', not_before = $2, error = $3, updated_at = now()"
        " WHERE id = $1 AND status = 'sending' AND ($4::int IS NULL OR attempts = $4)",
        mt_id,
        until,
        reason,
        attempt,
    )


async def fail(pool: Executor, mt_id: int, reason: str, attempt: int | None = None) -> None:
    """Final failure; with ``attempt``, only if the row was not claimed again since."""
    await pool.execute(
        "UPDATE mt_messages SET status = 'failed', error = $2, done_at = now(), updated_at = now()"
        " WHERE id = $1 AND status IN ('sending', 'submitted') AND ($3::int IS NULL OR attempts = $3)",
        mt_id,
        reason,
        attempt,
    )


FINAL_STATS = ("DELIVRD", "EXPIRED", "UNDELIV", "REJECTD", "DELETED", "UNKNOWN")


async def store_receipts(conn: Conn, receipts: list[tuple[str, str]], now: datetime) -> None:
    """Keep every final receipt ``(smsc_message_id, stat)``; :func:`apply_receipts` matches them to MTs."""
    final = [(i, s.upper()) for i, s in receipts if s.upper() in FINAL_STATS]
    if final:
        await conn.execute(
            "INSERT INTO mt_receipts (smsc_message_id, stat, received_at)"
            " SELECT u.id, u.stat, $3 FROM unnest($1::text[], $2::text[]) AS u(id, stat)",
            [i for i, _ in final],
            [s for _, s in final],
            now,
        )


async def apply_receipts(conn: Conn, now: datetime, smsc_ids: list[str] | None = None) -> list[tuple[int, str]]:
    """Apply stored receipts whose MT is known and 'submitted'; returns (mt id, stat) of the MTs it finished.

    With ``smsc_ids`` only those (just received, or just recorded as submitted); without, every pending receipt.
    """
    rows = await conn.fetch(
        "WITH r AS (UPDATE mt_receipts r SET applied_at = $1 FROM mt_messages m"
        "   WHERE r.applied_at IS NULL AND r.smsc_message_id = m.smsc_message_id AND m.status = 'submitted'"
        "   AND ($2::text[] IS NULL OR r.smsc_message_id = ANY($2::text[]))"
        "   RETURNING m.id, r.stat)"
        " UPDATE mt_messages m SET status = CASE r.stat WHEN 'DELIVRD' THEN 'delivered' WHEN 'EXPIRED' THEN"
        "   'expired' ELSE 'failed' END, done_at = $1, updated_at = $1,"
        "   error = CASE WHEN r.stat = 'DELIVRD' THEN NULL ELSE 'receipt ' || r.stat END"
        " FROM r WHERE m.id = r.id RETURNING m.id, r.stat",
        now,
        smsc_ids,
    )
    return [(int(r["id"]), str(r["stat"])) for r in rows]


async def forget_receipts(pool: Executor, now: datetime) -> None:
    """Applied receipts after a day; receipts that never matched an MT (other parts of a long MT) after three."""
    await pool.execute(
        "DELETE FROM mt_receipts WHERE applied_at < $1 OR (applied_at IS NULL AND received_at < $2)",
        now - timedelta(days=1),
        now - timedelta(days=3),
    )


async def applied(conn: Executor, smsc_ids: list[str]) -> set[str]:
    """Which of these receipts are applied to their MT."""
    found = await conn.fetchval(
        "SELECT coalesce(array_agg(smsc_message_id), '{}') FROM mt_receipts"
        " WHERE smsc_message_id = ANY($1::text[]) AND applied_at IS NOT NULL",
        smsc_ids,
    )
    return set(found)


async def expire_unreceipted(conn: Executor, older_than: timedelta, now: datetime, limit: int = 1000) -> list[int]:
    """MTs still ``submitted`` long after their validity (the SMSC lost them, or their receipt): ``expired``.

    Returns their ids; the caller tells the receipt listeners (stat ``EXPIRED``: billing releases the hold).
    """
    rows = await conn.fetch(
        "UPDATE mt_messages SET status = 'expired', error = 'no receipt within validity', done_at = $1,"
        " updated_at = $1 WHERE id IN (SELECT id FROM mt_messages WHERE status = 'submitted'"
        " AND submitted_at < $2 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING id",
        now,
        now - older_than,
        limit,
    )
    return [int(r["id"]) for r in rows]


async def requeue_stuck(pool: Executor, older_than: timedelta, now: datetime) -> int:
    """Rows left in ``sending`` by a crashed worker go back to the queue (at-least-once)."""
    result = await pool.execute(
        "UPDATE mt_messages SET status = 'deferred', not_before = $1, error = 'requeued after worker loss'"
        " WHERE status = 'sending' AND updated_at < $2",
        now,
        now - older_than,
    )
    return int(result.split()[-1])
