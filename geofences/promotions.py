"""Promotions at the edges: rows <-> rules, fences for the engine, and a transition turned into an MT (or not).

:func:`handle_transition` runs in one transaction: it inserts the trigger row under its idempotency key first (a
replayed transition inserts nothing and stops there), gathers the facts (consent, STOP list, caps, budget,
marketing window), asks :func:`geofences.rules.decide`, enqueues the MT in the messaging outbox when it fires, and
counts the outcome for the provider's report. Delivery counters come from :func:`on_submitted` / :func:`on_receipt`,
which the messaging core calls with the MT's row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import structlog

from geofences.model import Fence, FenceLimits, InvalidFence, distance_to_centre_m, parse_shape
from geofences.rules import Facts, Outcome, Promotion, decide, local_day_start, render
from geofences.transitions import Transition
from lbs.billing.fees import has_active_fee
from lbs.consent import registry
from lbs.consent.decision import Purpose
from lbs.consent.decision import decide as consent
from lbs.db import Conn, Executor
from lbs.errors import PermissionDenied
from lbs.messaging import outbox
from lbs.messaging import rules as marketing
from lbs.msisdn import is_short_code
from lbs.pseudonym import pseudonym
from lbs.settings import Settings

log = structlog.get_logger(__name__)

COLUMNS = (
    "p.id, p.provider_id, a.name AS application, p.application_id, p.name, p.brand, p.shop, p.fence, p.trigger,"
    " p.dwell_s, p.template, p.coupon, p.source, p.valid_from, p.valid_until, p.days, p.hours_from, p.hours_until,"
    " p.timezone, p.cap_count, p.cap_period, p.budget_messages, p.budget_minor, p.status, p.created_at, p.updated_at"
)
FROM = "FROM promotions p JOIN applications a ON a.id = p.application_id"


def promotion_of(row: Mapping[str, Any]) -> Promotion:
    """The rules' view of a ``promotions`` row (selected with :data:`COLUMNS`)."""
    return Promotion(
        id=row["id"],
        application=row["application"],
        brand=row["brand"],
        trigger=row["trigger"],
        status=row["status"],
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        days=row["days"],
        hours_from=row["hours_from"],
        hours_until=row["hours_until"],
        timezone=row["timezone"],
        cap_count=row["cap_count"],
        cap_period=row["cap_period"],
        budget_messages=row["budget_messages"],
        budget_minor=row["budget_minor"],
    )


def fence_of(row: Mapping[str, Any]) -> Fence:
    """The engine's fence of a promotion (id = promotion id; dwell for dwell promotions)."""
    fence = row["fence"] if isinstance(row["fence"], dict) else _json(row["fence"])
    shape = parse_shape(fence, FenceLimits(max_vertices=10**9, max_area_km2=1e12, min_radius_m=0, max_radius_m=1e9))
    return Fence(int(row["id"]), shape, float(row["dwell_s"]) if row["trigger"] == "dwell" else None)


def _json(raw: str) -> Any:
    return json.loads(raw)


@dataclass
class FenceSync:
    """Changes of promotions since the last look: fences to upsert (active) and ids to drop (paused, deleted)."""

    upsert: list[Fence]
    remove: list[int]
    seen_until: datetime | None
    versions: dict[int, datetime]  # promotion id -> updated_at of what was read


async def changed_fences(
    conn: Executor, since: datetime | None, known: Mapping[int, datetime] | None = None
) -> FenceSync:
    """Promotions changed after ``since`` (all when None); workers apply this so edits need no restart.

    Rows whose ``updated_at`` is the one in ``known`` (already applied) are skipped without parsing their fence.
    """
    rows = await conn.fetch(
        f"SELECT {COLUMNS} {FROM} WHERE $1::timestamptz IS NULL OR p.updated_at > $1 ORDER BY p.updated_at", since
    )
    sync = FenceSync([], [], since, {})
    for row in rows:
        sync.seen_until = row["updated_at"]
        if known is not None and known.get(int(row["id"])) == row["updated_at"]:
            continue
        try:
            fence = fence_of(row) if row["status"] == "active" else None
        except InvalidFence as exc:  # only a row written around the API can be invalid: never index it
            log.warning("promotion fence not indexed", promotion=row["id"], reason=exc.message)
            fence = None
        if fence is not None:
            sync.upsert.append(fence)
        else:
            sync.remove.append(int(row["id"]))
        sync.seen_until = row["updated_at"]
        sync.versions[int(row["id"])] = row["updated_at"]
    return sync


def oadc_of(provider_name: str) -> str:
    """The alphanumeric sender a provider's OADC option gives it: its registered name, letters and digits only."""
    return "".join(c for c in provider_name if c.isascii() and c.isalnum())[: outbox.OADC_MAX].upper()


async def check_sender(conn: Executor, provider_id: int, source: str, settings: Settings, today: date) -> str:
    """``source`` if the provider may send from it, else 403: one of its own short codes, the platform's shared
    short code (unless a provider holds it), or its OADC (its registered name) while it pays the OADC option."""
    if is_short_code(source):
        owner = await conn.fetchrow("SELECT provider_id FROM short_codes WHERE code = $1", source)
        holder = None if owner is None else owner["provider_id"]
        if holder == provider_id or (source == settings.short_code and holder is None):
            return source
        raise PermissionDenied(f"source: short code {source} is not one of yours")
    name = await conn.fetchval("SELECT name FROM providers WHERE id = $1", provider_id)
    if name is None or source.upper() != oadc_of(str(name)):
        raise PermissionDenied(f"source: {source!r} is not your alphanumeric sender (OADC)")
    if not await has_active_fee(conn, provider_id, "oadc", today):
        raise PermissionDenied("source: an alphanumeric sender needs the OADC option (ask the operator)")
    return source


async def check_brand(conn: Executor, provider_id: int, brand: str) -> str:
    """``brand`` unless another provider's live promotions use it (403): STOP <BRAND> and the daily slot must mean
    one provider."""
    other = await conn.fetchval(
        "SELECT 1 FROM promotions WHERE upper(brand) = upper($1) AND provider_id <> $2 AND status <> 'deleted' LIMIT 1",
        brand,
        provider_id,
    )
    if other is not None:
        raise PermissionDenied(f"brand: {brand!r} belongs to another provider")
    return brand


async def add_counters(conn: Executor, counts: Mapping[tuple[int, str], int]) -> None:
    """Add to report counters: {(promotion id, counter): n}."""
    if not counts:
        return
    await conn.executemany(
        "INSERT INTO promotion_counters (promotion_id, counter, value) VALUES ($1, $2, $3)"
        " ON CONFLICT (promotion_id, counter) DO UPDATE SET value = promotion_counters.value + EXCLUDED.value",
        [(pid, name, n) for (pid, name), n in counts.items()],
    )


async def counters(conn: Executor, promotion_id: int) -> dict[str, int]:
    """Every counter of a promotion."""
    rows = await conn.fetch("SELECT counter, value FROM promotion_counters WHERE promotion_id = $1", promotion_id)
    return {r["counter"]: int(r["value"]) for r in rows}


def idempotency_key(promotion_id: int, subject: str, transition: Transition) -> str:
    """One key per subscriber x fence x transition (x the report that caused it)."""
    return f"gf:{promotion_id}:{subject}:{transition.detect.value}:{transition.at!r}"


async def _decide(
    conn: Conn, settings: Settings, promo: Promotion, transition: Transition, subject: str, now: datetime
) -> Outcome:
    """:func:`decide` with the facts looked up in stages: a refusal on what is already known ends the lookups."""
    country = marketing.country_of(transition.msisdn)
    facts = Facts(
        now=now,
        geofencing_allowed=True,
        marketing_allowed=True,
        opted_out=False,
        subscriber_sends=0,
        promotion_sends=0,
        promotion_spent_minor=0,
        price_minor=settings.geofence_sms_price_minor,
        marketing_open=marketing.next_marketing_slot(now, country) == now,
    )
    outcome = decide(promo, transition.detect.value, facts)  # the promotion's own rules and the clock
    if outcome is not Outcome.FIRED:
        return outcome
    grants, paused = await registry.grants_of(conn, transition.msisdn)
    facts = replace(
        facts,
        geofencing_allowed=consent(
            grants, promo.application, Purpose.GEOFENCING, now, subscriber_paused_until=paused
        ).allowed,
        marketing_allowed=consent(
            grants, promo.application, Purpose.MARKETING, now, subscriber_paused_until=paused
        ).allowed,
    )
    outcome = decide(promo, transition.detect.value, facts)
    if outcome is not Outcome.FIRED:
        return outcome
    since = local_day_start(promo, now) if promo.cap_period == "day" else datetime.min.replace(tzinfo=UTC)
    counts = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE subject = $2 AND occurred_at >= $3) AS mine, count(*) AS n,"
        " coalesce(sum(cost_minor), 0) AS spent FROM promotion_triggers WHERE promotion_id = $1 AND outcome = 'fired'",
        promo.id,
        subject,
        since,
    )
    assert counts is not None
    facts = replace(
        facts,
        opted_out=await outbox.opted_out(conn, subject, promo.brand),
        subscriber_sends=int(counts["mine"]),
        promotion_sends=int(counts["n"]),
        promotion_spent_minor=int(counts["spent"]),
    )
    return decide(promo, transition.detect.value, facts)


async def handle_transition(
    conn: Conn, settings: Settings, row: Mapping[str, Any], transition: Transition, now: datetime
) -> Outcome | None:
    """Decide and act on one transition for one promotion; None when this transition was handled before."""
    promo = promotion_of(row)
    subject = pseudonym(settings.pseudonym_key, transition.msisdn)
    key = idempotency_key(promo.id, subject, transition)
    async with conn.transaction():
        trigger_id = await conn.fetchval(
            "INSERT INTO promotion_triggers (promotion_id, subject, transition, idempotency_key, outcome, occurred_at)"
            " VALUES ($1, $2, $3, $4, 'pending', $5) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            promo.id,
            subject,
            transition.detect.value,
            key,
            now,
        )
        if trigger_id is None:
            return None
        outcome = await _decide(conn, settings, promo, transition, subject, now)
        mt_id = None
        if outcome is Outcome.FIRED:
            outcome, mt_id = await _send(conn, settings, row, transition, key, now)
        cost = settings.geofence_sms_price_minor if outcome is Outcome.FIRED else 0
        await conn.execute(
            "UPDATE promotion_triggers SET outcome = $2, mt_id = $3, cost_minor = $4 WHERE id = $1",
            trigger_id,
            outcome.value,
            mt_id,
            cost,
        )
        label = "fired" if outcome is Outcome.FIRED else f"suppressed:{outcome.value}"
        await add_counters(conn, {(promo.id, "transitions"): 1, (promo.id, label): 1})
    return outcome


async def _send(
    conn: Conn, settings: Settings, row: Mapping[str, Any], transition: Transition, key: str, now: datetime
) -> tuple[Outcome, int | None]:
    fence = fence_of(row)
    text = render(
        row["template"],
        name=row["name"],
        shop=row["shop"],
        distance_m=distance_to_centre_m(fence.shape, transition.lon, transition.lat),
        coupon=row["coupon"],
    )
    language = await conn.fetchval("SELECT language FROM subscribers WHERE msisdn = $1", transition.msisdn)
    request = outbox.MtRequest(
        msisdn=transition.msisdn,
        body=text,
        source=row["source"],
        message_class="marketing",
        brand=row["brand"],
        language=language or "en",
        application_id=row["application_id"],
        idempotency_key=key,
        provider_id=row["provider_id"],
    )
    result = await outbox.enqueue(
        conn, request, now=now, pseudonym_key=settings.pseudonym_key, short_code=settings.short_code
    )
    if result.id is None:
        reason = result.status.removeprefix("suppressed:")
        return (Outcome(reason) if reason in Outcome.__members__.values() else Outcome.DAILY_BRAND_CAP), None
    return Outcome.FIRED, result.id


async def _count_for_mt(conn: Conn, mt_id: int, counter: str) -> None:
    promotion_id = await conn.fetchval("SELECT promotion_id FROM promotion_triggers WHERE mt_id = $1", mt_id)
    if promotion_id is not None:
        await add_counters(conn, {(int(promotion_id), counter): 1})


async def on_submitted(conn: Conn, mt_row: asyncpg.Record) -> None:
    """Messaging core hook (SubmitListener): a promotion's MT was accepted by the SMSC -> ``sent``."""
    await _count_for_mt(conn, int(mt_row["id"]), "sent")


async def on_receipt(conn: Conn, mt_id: int, stat: str) -> None:
    """Messaging core hook (ReceiptListener): ``delivered`` (or ``undelivered``) for a promotion's MT."""
    await _count_for_mt(conn, mt_id, "delivered" if stat.upper() == "DELIVRD" else "undelivered")


async def on_stop(conn: Conn, subject: str, brand: str | None) -> None:
    """STOP [brand] from a subscriber who got a promotion of that brand (or any, for a bare STOP) -> ``stops``."""
    # Counted for the provider whose promotion of that brand reached the subscriber last (brands are per provider:
    # another provider's promotions never count this STOP).
    rows = await conn.fetch(
        "WITH sent AS (SELECT t.promotion_id, p.provider_id, t.occurred_at FROM promotion_triggers t"
        " JOIN promotions p ON p.id = t.promotion_id WHERE t.subject = $1 AND t.outcome = 'fired'"
        " AND ($2::text IS NULL OR upper(p.brand) = upper($2))),"
        " latest AS (SELECT provider_id FROM sent ORDER BY occurred_at DESC LIMIT 1)"
        " SELECT DISTINCT promotion_id FROM sent"
        " WHERE $2::text IS NULL OR provider_id = (SELECT provider_id FROM latest)",
        subject,
        brand,
    )
    await add_counters(conn, {(int(r["promotion_id"]), "stops"): 1 for r in rows})
