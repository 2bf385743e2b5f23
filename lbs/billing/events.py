"""The billing interface for the rest of the platform: typed billable events, :func:`record` and :func:`on_receipt`.

Call :func:`record` inside the transaction that writes the event it bills (the location disclosure, the MT
outbox row, the MO): the CDR commits or rolls back with it. Every event carries an idempotency key; recording
the same key again returns None and bills nothing. See ``docs/billing.md`` for examples.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeAlias

import asyncpg

from lbs.billing import prepaid
from lbs.billing.plans import Tariff, tariff_for
from lbs.billing.rating import (
    MT_TYPES,
    SUBSCRIBER_PAID,
    Account,
    ChargingPoint,
    EventType,
    next_period,
    period_of,
    price_of_unit,
    share_of,
)
from lbs.errors import InvalidArgument, NotFound

# A plain connection or one from a pool: both work, inside or outside a transaction.
Conn: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"

# Shared by every record() (advisory, shared mode) and taken exclusively by close_month(), so no CDR can land in
# a month while that month's statements are being written.
PERIOD_LOCK = 0x1B_111_9  # "billing" in the advisory-lock space; any constant unique to this use

DELIVERED = frozenset({"DELIVRD"})
# Final failure states of an SMPP delivery receipt (SMPP 3.4 appendix B); ENROUTE/ACCEPTD are not final.
FAILED = frozenset({"UNDELIV", "EXPIRED", "REJECTD", "DELETED", "UNKNOWN"})


class LocationKind(StrEnum):
    """Where a billable location came from."""

    ACTIVE = "active"  # an active query (SMS keyword -> MLP SLIR)
    PASSIVE = "passive"  # a periodic or area report (MLP triggered location report)
    REST = "rest"  # a REST device-location call


class MoCharge(StrEnum):
    """Who pays for an MO."""

    STANDARD = "standard"  # the subscriber pays their usual SMS price to the operator; the provider a handling fee
    REVERSE = "reverse"  # MO-R: the provider pays for the subscriber's message
    PREMIUM = "premium"  # premium MO: the subscriber pays a premium price; the provider earns a share


@dataclass(frozen=True, kw_only=True)
class BillableEvent:
    """Fields every billable event carries. ``occurred_at`` must be timezone-aware."""

    idempotency_key: str  # unique per billable unit, stable across retries (e.g. f"loc:{request_id}")
    provider_id: int
    occurred_at: datetime
    application_id: int | None = None
    short_code: str | None = None  # the short code the traffic used, for per-short-code statement lines

    @property
    def event_type(self) -> EventType:
        raise NotImplementedError

    @property
    def msisdn(self) -> str | None:
        """Kept on the CDR only when the subscriber pays (MT-R, premium MO): data minimisation."""
        return None


@dataclass(frozen=True, kw_only=True)
class LocationResult(BillableEvent):
    """One position disclosed to a provider's application."""

    kind: LocationKind

    @property
    def event_type(self) -> EventType:
        return {
            LocationKind.ACTIVE: EventType.LOCATION_ACTIVE,
            LocationKind.PASSIVE: EventType.LOCATION_PASSIVE,
            LocationKind.REST: EventType.LOCATION_REST,
        }[self.kind]


@dataclass(frozen=True, kw_only=True)
class MtSegment(BillableEvent):
    """One MT segment the SMSC accepted (record it on submit_sm_resp OK). ``reverse_charged``: MT-R.

    ``message_key`` is what the delivery receipt will name (the SMSC message id); :func:`on_receipt` settles
    every pending segment with that key. Under a *delivery* charging point the segment is billed only then.
    """

    message_key: str
    segment: int = 1
    reverse_charged: bool = False
    subscriber: str | None = None  # the MSISDN, needed (and kept) only for MT-R

    @property
    def event_type(self) -> EventType:
        return EventType.MT_R if self.reverse_charged else EventType.MT

    @property
    def msisdn(self) -> str | None:
        return self.subscriber if self.reverse_charged else None


@dataclass(frozen=True, kw_only=True)
class MoMessage(BillableEvent):
    """One MO received on a provider's short code."""

    charge: MoCharge = MoCharge.STANDARD
    subscriber: str | None = None  # the MSISDN, needed (and kept) only for premium MO

    @property
    def event_type(self) -> EventType:
        return {
            MoCharge.STANDARD: EventType.MO,
            MoCharge.REVERSE: EventType.MO_R,
            MoCharge.PREMIUM: EventType.MO_PREMIUM,
        }[self.charge]

    @property
    def msisdn(self) -> str | None:
        return self.subscriber if self.charge is MoCharge.PREMIUM else None


@dataclass(frozen=True)
class Cdr:
    """A rated charging data record, as stored in ``billing_cdrs`` (``id`` is 0 until it is written)."""

    idempotency_key: str
    provider_id: int
    application_id: int | None
    contract_id: int | None
    plan_code: str
    account: str
    event_type: str
    short_code: str | None
    msisdn: str | None
    message_key: str | None
    segment: int | None
    charging_point: str
    payer: str
    amount_minor: int
    share_minor: int
    currency: str
    period: date
    occurred_at: datetime
    id: int = 0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["period"] = self.period.isoformat()
        out["occurred_at"] = self.occurred_at.isoformat()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cdr:
        fields = dict(data)
        fields["period"] = date.fromisoformat(fields["period"])
        fields["occurred_at"] = datetime.fromisoformat(fields["occurred_at"])
        return cls(**fields)


CDR_COLUMNS = (
    "idempotency_key, provider_id, application_id, contract_id, plan_code, account, event_type, short_code, msisdn,"
    " message_key, segment, charging_point, payer, amount_minor, share_minor, currency, period, occurred_at"
)


def check_event(event: BillableEvent) -> None:
    prepaid.check_key(event.idempotency_key)
    if event.occurred_at.tzinfo is None:
        raise InvalidArgument("occurred_at must be timezone-aware")


def period_after(at: datetime, last_closed: date | None) -> date:
    """The month a CDR of an event at ``at`` belongs to: its own, or the first open one after the last close."""
    own = period_of(at)
    return max(own, next_period(last_closed)) if last_closed else own


async def open_period(conn: Conn, at: datetime) -> date:
    """:func:`period_after` with the last closed month read from the database."""
    return period_after(at, await conn.fetchval("SELECT max(period) FROM billing_months"))


async def _lock(conn: Conn, key: str) -> tuple[bool, date | None]:
    """Take the shared period lock and the key's lock, then read (already billed?, last closed month)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock_shared($1), pg_advisory_xact_lock(hashtextextended($2, 7))", PERIOD_LOCK, key
    )
    # A separate statement: its snapshot is taken after the lock, so it sees a concurrent first writer's CDR.
    row = await conn.fetchrow(
        "SELECT EXISTS (SELECT 1 FROM billing_cdrs WHERE idempotency_key = $1)"
        " OR EXISTS (SELECT 1 FROM billing_pending_mt WHERE idempotency_key = $1),"
        " (SELECT max(period) FROM billing_months)",
        key,
    )
    assert row is not None
    return bool(row[0]), row[1]


async def count_unit(conn: Conn, provider_id: int, period: date, event_type: EventType, delta: int) -> int:
    """Move the month-to-date counter by ``delta``; return the units before (the 0-based position of the first)."""
    units: int = await conn.fetchval(
        "INSERT INTO billing_counters (provider_id, period, event_type, units) VALUES ($1, $2, $3, GREATEST($4, 0))"
        " ON CONFLICT (provider_id, period, event_type) DO UPDATE SET units = billing_counters.units + $4"
        " RETURNING units",
        provider_id,
        period,
        event_type.value,
        delta,
    )
    return units - delta


def payer_of(event_type: EventType) -> str:
    """Subscribers pay MT-R and premium MO; providers pay everything else."""
    return "subscriber" if event_type in SUBSCRIBER_PAID else "provider"


def rate_event(tariff: Tariff, event: BillableEvent, period: date, n: int, held: int | None = None) -> Cdr:
    """Pure: the CDR of ``event`` as the ``n``-th unit of its month (or at the ``held`` prepaid price)."""
    et = event.event_type
    amount = held if held is not None else price_of_unit(tariff.plan.rate(et), n)
    mt = event if isinstance(event, MtSegment) else None
    return Cdr(
        idempotency_key=event.idempotency_key,
        provider_id=event.provider_id,
        application_id=event.application_id,
        contract_id=tariff.contract_id,
        plan_code=tariff.plan.code,
        account=tariff.account.value,
        event_type=et.value,
        short_code=event.short_code,
        msisdn=event.msisdn,
        message_key=mt.message_key if mt else None,
        segment=mt.segment if mt else None,
        charging_point=tariff.plan.charging_point.value if mt else ChargingPoint.SUBMISSION.value,
        payer=payer_of(et),
        amount_minor=amount,
        share_minor=share_of(amount, tariff.plan.share_bp(et)),
        currency=tariff.plan.currency,
        period=period,
        occurred_at=event.occurred_at,
    )


def prepaid_unit(tariff: Tariff, event_type: EventType) -> bool:
    return tariff.account is Account.PREPAID and payer_of(event_type) == "provider"


def held_for_delivery(tariff: Tariff, event_type: EventType) -> bool:
    return event_type in MT_TYPES and tariff.plan.charging_point is ChargingPoint.DELIVERY


async def _write(conn: Conn, cdr: Cdr) -> Cdr:
    """Insert the CDR and, for a prepaid provider-paid unit, debit the balance in the same transaction."""
    values = [v for k, v in asdict(cdr).items() if k != "id"]
    placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    cdr_id = await conn.fetchval(
        f"INSERT INTO billing_cdrs ({CDR_COLUMNS}) VALUES ({placeholders}) RETURNING id",  # noqa: S608
        *values,
    )
    if cdr.account == Account.PREPAID.value and cdr.payer == "provider":
        await prepaid.charge(
            conn, cdr.provider_id, cdr.idempotency_key, cdr.amount_minor, cdr.currency, cdr_id, cdr.occurred_at
        )
    return replace(cdr, id=cdr_id)


async def record(conn: Conn, event: BillableEvent) -> Cdr | None:
    """Rate and write the CDR of ``event`` in the caller's transaction; None when nothing is billed now.

    None means: the idempotency key was already billed (a replay: never bills twice), or the event is an MT
    under a *delivery* charging point, held until :func:`on_receipt` sees its receipt. For a prepaid provider
    the unit is paid from the reservation made by :func:`lbs.billing.reserve` under the same key, or, without
    one, from the balance now; when the balance cannot pay this raises ``InsufficientBalance`` or
    ``BalanceExpired`` (HTTP 402) and writes nothing.
    """
    check_event(event)
    try:
        return await _record(conn, event)
    except asyncpg.ForeignKeyViolationError as exc:
        raise NotFound(f"no provider with id {event.provider_id}") from exc


async def _record(conn: Conn, event: BillableEvent) -> Cdr | None:
    async with conn.transaction():
        billed, last_closed = await _lock(conn, event.idempotency_key)
        if billed:
            return None
        tariff = await tariff_for(conn, event.provider_id, event.occurred_at)
        period = period_after(event.occurred_at, last_closed)
        n = await count_unit(conn, event.provider_id, period, event.event_type, 1)
        from_balance = prepaid_unit(tariff, event.event_type)
        held = await prepaid.held_amount(conn, event.idempotency_key) if from_balance else None
        cdr = rate_event(tariff, event, period, n, held)
        if held_for_delivery(tariff, event.event_type):
            await _hold_for_delivery(conn, cdr)
            return None
        return await _write(conn, cdr)


async def _hold_for_delivery(conn: Conn, cdr: Cdr) -> None:
    if cdr.account == Account.PREPAID.value and cdr.payer == "provider":
        await prepaid.ensure_hold(
            conn, cdr.provider_id, cdr.idempotency_key, cdr.event_type, cdr.amount_minor, cdr.currency, cdr.occurred_at
        )
    assert cdr.message_key is not None
    await conn.execute(
        "INSERT INTO billing_pending_mt (idempotency_key, message_key, provider_id, rated, status)"
        " VALUES ($1, $2, $3, $4::jsonb, 'pending')",
        cdr.idempotency_key,
        cdr.message_key,
        cdr.provider_id,
        json.dumps(cdr.to_json()),
    )


async def on_receipt(conn: Conn, message_key: str, status: str) -> list[Cdr]:
    """Settle the pending MT segments of ``message_key`` on a final delivery receipt; returns the CDRs written.

    ``DELIVRD`` bills each pending segment (and commits its prepaid reservation); a final failure (UNDELIV,
    EXPIRED, REJECTD, DELETED, UNKNOWN) bills nothing, releases the reservation and gives the unit back to the
    month's counter. Non-final states, unknown keys, segments charged on submission and repeated receipts are
    no-ops. Call it in the transaction that stores the receipt.
    """
    state = status.strip().upper()
    if state not in DELIVERED | FAILED:
        return []
    written: list[Cdr] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", PERIOD_LOCK)
        rows = await conn.fetch(
            "SELECT idempotency_key, rated FROM billing_pending_mt WHERE message_key = $1 AND status = 'pending'"
            " ORDER BY idempotency_key FOR UPDATE",
            message_key,
        )
        for row in rows:
            cdr = Cdr.from_json(_json(row["rated"]))
            if state in DELIVERED:
                written.append(await _write(conn, replace(cdr, period=await open_period(conn, cdr.occurred_at))))
            else:  # counter before balance, the order record() takes them in: no deadlock between the two
                await count_unit(conn, cdr.provider_id, cdr.period, EventType(cdr.event_type), -1)
                await prepaid.release(conn, cdr.idempotency_key)
            await conn.execute(
                "UPDATE billing_pending_mt SET status = $2, settled_at = now() WHERE idempotency_key = $1",
                row["idempotency_key"],
                "billed" if state in DELIVERED else "failed",
            )
    return written


def _json(value: Any) -> dict[str, Any]:
    return dict(json.loads(value)) if isinstance(value, str) else dict(value)


async def list_cdrs(
    conn: Conn, *, period: date, provider_id: int | None = None, after_id: int = 0, limit: int = 100
) -> list[Cdr]:
    """CDRs of ``period`` (one provider's, or all), by id after ``after_id``: a page for reconciliation."""
    rows = await conn.fetch(
        f"SELECT id, {CDR_COLUMNS} FROM billing_cdrs WHERE period = $1"  # noqa: S608
        " AND ($2::bigint IS NULL OR provider_id = $2) AND id > $3 ORDER BY id LIMIT $4",
        period,
        provider_id,
        after_id,
        limit,
    )
    return [Cdr(**{k: v for k, v in r.items() if k != "id"}, id=r["id"]) for r in rows]
