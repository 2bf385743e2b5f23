"""Ready-made glue between the messaging core and billing, and a few lines of bill for the live demo.

``attach(core)`` adds two listeners to ``lbs.messaging.core.MessagingCore``: when the SMSC accepts an MT of an
application, one :class:`MtSegment` per segment is recorded (message key ``mt:{id}``); when its receipt comes,
:func:`on_receipt` settles them. MTs without an application (HELP, consent requests) are the platform's own and
are not billed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeAlias

import asyncpg
import structlog

from lbs.billing.errors import PaymentRequired
from lbs.billing.events import MtSegment, on_receipt, record
from lbs.billing.fees import schedule_from
from lbs.billing.prepaid import Reservation, reserve
from lbs.billing.rating import EventType, format_minor, period_of
from lbs.billing.statements import build_statement
from lbs.errors import LbsError
from lbs.msisdn import is_short_code
from lbs.settings import Settings

log = structlog.get_logger(__name__)

# A plain connection or one from a pool: both work, inside or outside a transaction.
Conn: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"


class HasListeners(Protocol):
    """What :func:`attach` needs of the messaging core."""

    receipt_listeners: list[Any]
    submit_listeners: list[Any]


def mt_key(mt_id: int, segment: int) -> str:
    """The idempotency key of one MT segment of the outbox row ``mt_id``."""
    return f"mt:{mt_id}:{segment}"


async def _provider_of(conn: Conn, application_id: int | None) -> int | None:
    if application_id is None:
        return None
    found = await conn.fetchval("SELECT provider_id FROM applications WHERE id = $1", application_id)
    return int(found) if found is not None else None


async def bill_submitted_mt(conn: Conn, row: asyncpg.Record) -> None:
    """Submit listener: record each segment of an accepted MT, in the transaction that marks it submitted."""
    provider_id = await _provider_of(conn, row["application_id"])
    if provider_id is None:
        return
    for segment in range(1, int(row["segments"]) + 1):
        event = MtSegment(
            idempotency_key=mt_key(row["id"], segment),
            provider_id=provider_id,
            application_id=row["application_id"],
            occurred_at=row["submitted_at"],  # set in the transaction that marks it submitted
            short_code=row["source"] if is_short_code(row["source"]) else None,
            message_key=f"mt:{row['id']}",
            segment=segment,
        )
        try:
            await record(conn, event)  # in a savepoint: a failure here leaves the messaging transaction usable
        except PaymentRequired as err:  # already sent: log the unpaid unit rather than fail the whole batch
            log.warning("mt sent without prepaid credit", mt_id=row["id"], segment=segment, error=err.message)
        except (LbsError, asyncpg.PostgresError):
            # Never let billing fail the submit batch: its rows would be re-queued and the SMS sent twice.
            log.exception("mt segment not billed", mt_id=row["id"], segment=segment)


async def bill_mt_receipt(conn: Conn, mt_id: int, stat: str) -> None:
    """Receipt listener: bill (DELIVRD) or drop (failure) the segments held for a delivery charging point."""
    try:
        await on_receipt(conn, f"mt:{mt_id}", stat)
    except (LbsError, asyncpg.PostgresError):
        log.exception("mt receipt not billed", mt_id=mt_id, stat=stat)


def attach(core: HasListeners) -> None:
    """Bill every MT of an application through the messaging core's listeners."""
    core.submit_listeners.append(bill_submitted_mt)
    core.receipt_listeners.append(bill_mt_receipt)


async def reserve_mt(conn: Conn, *, provider_id: int, mt_id: int, segments: int, now: datetime) -> list[Reservation]:
    """Prepaid: hold the price of every segment of outbox row ``mt_id`` before it is sent (402 when short).

    Call it in the transaction that enqueues the MT: a refusal rolls the enqueue back, so nothing is sent.
    """
    held = []
    for segment in range(1, segments + 1):
        found = await reserve(
            conn, provider_id=provider_id, event_type=EventType.MT, idempotency_key=mt_key(mt_id, segment), now=now
        )
        if found is not None:
            held.append(found)
    return held


async def hold_mt(conn: Conn, application_id: int, *, mt_id: int, segments: int, now: datetime) -> list[Reservation]:
    """The outbox's enqueue hook: hold an application's MT on its provider's prepaid balance (nothing when the
    provider is postpaid or the application unknown). Raises :class:`PaymentRequired` when the balance is short."""
    provider_id = await _provider_of(conn, application_id)
    if provider_id is None:
        return []
    return await reserve_mt(conn, provider_id=provider_id, mt_id=mt_id, segments=segments, now=now)


async def print_demo_bill(
    settings: Settings, out: Callable[[str], None], providers: Sequence[str], now: datetime
) -> None:
    """The demo's last step: print the running month's bill of each named provider, in plain words."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        for name in providers:
            pid = await conn.fetchval("SELECT id FROM providers WHERE name = $1", name)
            if pid is not None:
                for line in await bill_lines(conn, settings, int(pid), now):
                    out(line)
    finally:
        await conn.close()


async def bill_lines(conn: Conn, settings: Settings, provider_id: int, at: datetime) -> list[str]:
    """A short, plain-words bill of the running month for the live demo (``make run``)."""
    s = await build_statement(conn, provider_id, period_of(at), schedule_from(settings), at)
    out = [f"Bill so far for {s.provider_name}, {s.period:%B %Y} ({s.account}):"]
    for line in s.lines:
        out.append(f"  {line.description}: {line.quantity} -> {format_minor(line.amount_minor, s.currency)}")
    out.append(f"  Total excluding tax: {format_minor(s.totals.total_minor, s.currency)}")
    return out
