"""``record_many``: bill a batch of events (a pushed report of 500 positions) in one transaction, few round trips.

The result is what :func:`lbs.billing.record` would give event by event — same prices, same idempotency — but
postpaid units are counted per (provider, month, event type) with one counter update and inserted with one
statement. Prepaid units and MTs under a delivery charging point take the one-by-one path (their balance and
reservation work is per unit anyway).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import astuple, replace
from datetime import UTC, date
from typing import Any, TypeAlias

import asyncpg

from lbs.billing.events import (
    CDR_COLUMNS,
    PERIOD_LOCK,
    BillableEvent,
    Cdr,
    check_event,
    count_unit,
    held_for_delivery,
    period_after,
    prepaid_unit,
    rate_event,
    record,
)
from lbs.billing.plans import Tariff, tariff_for
from lbs.billing.rating import EventType
from lbs.errors import NotFound

# A plain connection or one from a pool: both work, inside or outside a transaction.
Conn: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"

# Postgres types of CDR_COLUMNS, in order, for the unnest() bulk insert.
_CDR_TYPES = (
    "text", "bigint", "bigint", "bigint", "text", "text", "text", "text", "text",
    "text", "int", "text", "text", "bigint", "bigint", "text", "date", "timestamptz",
)  # fmt: skip
_UNNEST = ", ".join(f"${i}::{t}[]" for i, t in enumerate(_CDR_TYPES, start=1))


async def _lock_all(conn: Conn, keys: list[str]) -> tuple[set[str], date | None]:
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", PERIOD_LOCK)
    # Sorted, so two batches sharing keys lock them in the same order (no deadlock between batches).
    await conn.execute(
        "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 7))) FROM (SELECT unnest($1::text[]) AS k) AS s", keys
    )
    billed = await conn.fetch(
        "SELECT idempotency_key FROM billing_cdrs WHERE idempotency_key = ANY($1::text[])"
        " UNION ALL SELECT idempotency_key FROM billing_pending_mt WHERE idempotency_key = ANY($1::text[])",
        keys,
    )
    return {r[0] for r in billed}, await conn.fetchval("SELECT max(period) FROM billing_months")


async def _insert(conn: Conn, cdrs: list[Cdr]) -> list[Cdr]:
    if not cdrs:
        return []
    columns = list(zip(*(astuple(c)[:-1] for c in cdrs), strict=True))
    rows = await conn.fetch(
        f"INSERT INTO billing_cdrs ({CDR_COLUMNS}) SELECT * FROM unnest({_UNNEST})"  # noqa: S608
        " RETURNING id, idempotency_key",
        *[list(col) for col in columns],
    )
    ids = {r[1]: r[0] for r in rows}
    return [replace(c, id=ids[c.idempotency_key]) for c in cdrs]


async def record_many(conn: Conn, events: Sequence[BillableEvent]) -> list[Cdr]:
    """Record every event of the batch in one (caller's) transaction; returns the CDRs written now.

    Replays (keys already billed, or repeated within the batch) and MTs held for their receipt are left out of
    the result, exactly as :func:`record` returns None for them. Raises 402 errors like :func:`record`.
    """
    for event in events:
        check_event(event)
    try:
        return await _record_many(conn, events)
    except asyncpg.ForeignKeyViolationError as exc:
        raise NotFound("a provider of this batch does not exist") from exc


async def _record_many(conn: Conn, events: Sequence[BillableEvent]) -> list[Cdr]:
    fresh: dict[str, BillableEvent] = {}
    async with conn.transaction():
        billed, last_closed = await _lock_all(conn, sorted({e.idempotency_key for e in events}))
        for event in events:
            if event.idempotency_key not in billed:
                fresh.setdefault(event.idempotency_key, event)
        tariffs: dict[tuple[int, date], Tariff] = {}
        groups: dict[tuple[int, date, EventType], list[tuple[BillableEvent, Tariff]]] = defaultdict(list)
        one_by_one: list[BillableEvent] = []
        for event in fresh.values():
            day = (event.provider_id, event.occurred_at.astimezone(UTC).date())
            if day not in tariffs:
                tariffs[day] = await tariff_for(conn, event.provider_id, event.occurred_at)
            tariff = tariffs[day]
            if prepaid_unit(tariff, event.event_type) or held_for_delivery(tariff, event.event_type):
                one_by_one.append(event)
            else:
                period = period_after(event.occurred_at, last_closed)
                groups[(event.provider_id, period, event.event_type)].append((event, tariff))
        cdrs: list[Cdr] = []
        for (provider_id, period, event_type), members in sorted(groups.items()):
            start = await count_unit(conn, provider_id, period, event_type, len(members))
            cdrs.extend(rate_event(t, e, period, start + i) for i, (e, t) in enumerate(members))
        written = await _insert(conn, cdrs)
        for event in sorted(one_by_one, key=lambda e: (e.provider_id, e.event_type.value, e.idempotency_key)):
            cdr = await record(conn, event)
            if cdr is not None:
                written.append(cdr)
    return written
