"""Prepaid balances: top up, reserve before the action, commit on success, release on failure.

``available = credits - reserved``. A reservation is one conditional ``UPDATE`` (``... WHERE credits - reserved
>= amount``): PostgreSQL's row lock serialises concurrent reservations on one balance, and the CHECK constraints
(``reserved <= credits``, both >= 0) make a negative balance impossible even for code that forgets the condition.
Credits expire: a top-up sets the validity to at least ``validity_days`` from now; an expired balance forfeits
its available credits (an ``expire`` ledger line) at the next top-up, and refuses reservations meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn, TypeAlias

import asyncpg

from lbs.billing.errors import BalanceExpired, InsufficientBalance
from lbs.billing.plans import tariff_for
from lbs.billing.rating import Account, EventType, format_minor, period_of, price_of_unit
from lbs.errors import InvalidArgument, NotFound

# A plain connection or one from a pool: both work, inside or outside a transaction.
Conn: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"

MAX_TOPUP_MINOR = 10_000_000  # 100,000.00 in one top-up: more is a typo or needs a contract, not a card
KEY_MAX_LEN = 200


@dataclass(frozen=True)
class Balance:
    """A provider's prepaid balance; ``available_minor`` is 0 once expired."""

    provider_id: int
    currency: str
    credits_minor: int
    reserved_minor: int
    expires_at: datetime | None
    available_minor: int

    def to_json(self) -> dict[str, Any]:
        return {
            "provider_id": self.provider_id,
            "currency": self.currency,
            "credits_minor": self.credits_minor,
            "reserved_minor": self.reserved_minor,
            "available_minor": self.available_minor,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


@dataclass(frozen=True)
class Reservation:
    """Credits held for one billable action, keyed by the action's idempotency key."""

    idempotency_key: str
    provider_id: int
    event_type: EventType
    amount_minor: int
    currency: str
    status: str


def check_key(key: str) -> str:
    """Idempotency keys are non-empty printable text of bounded length."""
    if not isinstance(key, str) or not key or len(key) > KEY_MAX_LEN or not key.isprintable():
        raise InvalidArgument(f"an idempotency key is 1 to {KEY_MAX_LEN} printable characters")
    return key


async def lock_key(conn: Conn, key: str) -> None:
    """Serialise work on one idempotency key until the transaction ends (a replay waits, then sees the first)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", key)


def _balance(row: asyncpg.Record, now: datetime) -> Balance:
    expired = row["expires_at"] is not None and row["expires_at"] <= now
    available = 0 if expired else row["credits_minor"] - row["reserved_minor"]
    return Balance(
        row["provider_id"], row["currency"], row["credits_minor"], row["reserved_minor"], row["expires_at"], available
    )


_BALANCE_COLUMNS = "provider_id, currency, credits_minor, reserved_minor, expires_at"


async def get_balance(conn: Conn, provider_id: int, now: datetime) -> Balance:
    """The provider's balance, or :class:`NotFound` when it never topped up."""
    row = await conn.fetchrow(
        f"SELECT {_BALANCE_COLUMNS} FROM billing_balances WHERE provider_id = $1",  # noqa: S608
        provider_id,
    )
    if row is None:
        raise NotFound(f"provider {provider_id} has no prepaid balance")
    return _balance(row, now)


async def top_up(
    conn: Conn,
    provider_id: int,
    amount_minor: object,
    *,
    idempotency_key: str,
    currency: str = "EUR",
    validity_days: int = 365,
    now: datetime,
) -> Balance:
    """Add credits valid ``validity_days`` from now; a replayed ``idempotency_key`` changes nothing."""
    if not _small(amount_minor):
        raise InvalidArgument(f"a top-up is a whole number of minor units from 1 to {MAX_TOPUP_MINOR}")
    assert isinstance(amount_minor, int)
    amount = amount_minor
    check_key(idempotency_key)
    async with conn.transaction():
        if await conn.fetchval("SELECT id FROM providers WHERE id = $1", provider_id) is None:
            raise NotFound(f"no provider with id {provider_id}")
        await conn.execute(
            "INSERT INTO billing_balances (provider_id, currency, credits_minor, reserved_minor)"
            " VALUES ($1, $2, 0, 0) ON CONFLICT (provider_id) DO NOTHING",
            provider_id,
            currency,
        )
        row = await conn.fetchrow(
            f"SELECT {_BALANCE_COLUMNS} FROM billing_balances WHERE provider_id = $1 FOR UPDATE",  # noqa: S608
            provider_id,
        )
        assert row is not None
        if await conn.fetchval("SELECT 1 FROM billing_ledger WHERE idempotency_key = $1", idempotency_key):
            return _balance(row, now)
        if row["currency"] != currency:
            raise InvalidArgument(f"this balance is in {row['currency']}, not {currency}")
        credits = await _expire(conn, row, now)
        until = max(now + timedelta(days=validity_days), row["expires_at"] or now)
        credits += amount
        await _ledger(conn, provider_id, "topup", amount, credits, currency, key=idempotency_key)
        updated = await conn.fetchrow(
            "UPDATE billing_balances SET credits_minor = $2, expires_at = $3, updated_at = now()"  # noqa: S608
            f" WHERE provider_id = $1 RETURNING {_BALANCE_COLUMNS}",
            provider_id,
            credits,
            until,
        )
    assert updated is not None
    return _balance(updated, now)


def _small(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_TOPUP_MINOR


async def _expire(conn: Conn, row: asyncpg.Record, now: datetime) -> int:
    """Forfeit the available credits of an expired balance; return the credits left (what is still reserved)."""
    credits = int(row["credits_minor"])
    forfeited = credits - int(row["reserved_minor"])
    if row["expires_at"] is None or row["expires_at"] > now or forfeited <= 0:
        return credits
    left = credits - forfeited
    await _ledger(conn, row["provider_id"], "expire", -forfeited, left, row["currency"])
    return left


async def _ledger(
    conn: Conn, provider_id: int, kind: str, amount: int, after: int, currency: str, *, key: str | None = None
) -> None:
    await conn.execute(
        "INSERT INTO billing_ledger (provider_id, kind, amount_minor, balance_after_minor, currency, idempotency_key)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        provider_id,
        kind,
        amount,
        after,
        currency,
        key,
    )


async def _hold(conn: Conn, provider_id: int, amount: int, now: datetime) -> None:
    """Reserve ``amount`` on the balance or raise INSUFFICIENT_BALANCE / BALANCE_EXPIRED."""
    held = await conn.fetchval(
        "UPDATE billing_balances SET reserved_minor = reserved_minor + $2, updated_at = now()"
        " WHERE provider_id = $1 AND credits_minor - reserved_minor >= $2 AND (expires_at IS NULL OR expires_at > $3)"
        " RETURNING 1",
        provider_id,
        amount,
        now,
    )
    if not held:
        await _refuse(conn, provider_id, amount, now)


async def _refuse(conn: Conn, provider_id: int, amount: int, now: datetime) -> NoReturn:
    """Raise the 402 that explains why the balance cannot pay ``amount``."""
    row = await conn.fetchrow(
        f"SELECT {_BALANCE_COLUMNS} FROM billing_balances WHERE provider_id = $1",  # noqa: S608
        provider_id,
    )
    if row is None:
        raise InsufficientBalance(f"provider {provider_id} has no prepaid credit; top up first")
    if row["expires_at"] is not None and row["expires_at"] <= now:
        raise BalanceExpired(f"the prepaid credit of provider {provider_id} expired on {row['expires_at']:%Y-%m-%d}")
    available = row["credits_minor"] - row["reserved_minor"]
    currency = row["currency"]
    raise InsufficientBalance(
        f"this action costs {format_minor(amount, currency)}; available {format_minor(available, currency)}",
        details={"needed_minor": amount, "available_minor": available},
    )


async def reserve(
    conn: Conn, *, provider_id: int, event_type: EventType, idempotency_key: str, now: datetime
) -> Reservation | None:
    """Hold the price of one ``event_type`` before doing it; None for a postpaid provider (nothing to hold).

    Run it in its own short transaction *before* asking the LES or submitting the MT, so the hold is visible to
    every other worker. The price is fixed here: :func:`lbs.billing.record` later bills exactly this amount.
    Raises :class:`InsufficientBalance` or :class:`BalanceExpired` (402). Replaying a key returns the first hold.
    """
    check_key(idempotency_key)
    async with conn.transaction():
        await lock_key(conn, idempotency_key)
        existing = await _reservation(conn, idempotency_key)
        if existing is not None:
            return existing
        tariff = await tariff_for(conn, provider_id, now)
        if tariff.account is not Account.PREPAID or event_type.value in ("mt_r", "mo_premium"):
            return None
        used = await conn.fetchval(
            "SELECT units FROM billing_counters WHERE provider_id = $1 AND period = $2 AND event_type = $3",
            provider_id,
            period_of(now),
            event_type.value,
        )
        amount = price_of_unit(tariff.plan.rate(event_type), int(used or 0))
        await _hold(conn, provider_id, amount, now)
        await conn.execute(
            "INSERT INTO billing_reservations"
            " (idempotency_key, provider_id, event_type, amount_minor, currency, status, created_at)"
            " VALUES ($1, $2, $3, $4, $5, 'held', $6)",
            idempotency_key,
            provider_id,
            event_type.value,
            amount,
            tariff.plan.currency,
            now,
        )
    return Reservation(idempotency_key, provider_id, event_type, amount, tariff.plan.currency, "held")


async def _reservation(conn: Conn, key: str, *, for_update: bool = False) -> Reservation | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        "SELECT idempotency_key, provider_id, event_type, amount_minor, currency, status"  # noqa: S608
        f" FROM billing_reservations WHERE idempotency_key = $1{lock}",
        key,
    )
    if row is None:
        return None
    return Reservation(row[0], row[1], EventType(row[2]), row[3], row[4], row[5])


async def release(conn: Conn, idempotency_key: str) -> bool:
    """Give back a held reservation (the action failed). True when something was released."""
    async with conn.transaction():
        found = await _reservation(conn, idempotency_key, for_update=True)
        if found is None or found.status != "held":
            return False
        await conn.execute(
            "UPDATE billing_balances SET reserved_minor = reserved_minor - $2, updated_at = now()"
            " WHERE provider_id = $1",
            found.provider_id,
            found.amount_minor,
        )
        await conn.execute(
            "UPDATE billing_reservations SET status = 'released', settled_at = now() WHERE idempotency_key = $1",
            idempotency_key,
        )
    return True


async def release_stale(conn: Conn, older_than: timedelta, now: datetime) -> int:
    """Release holds older than ``older_than`` whose action never reported back (a worker crashed between
    :func:`reserve` and ``record``/``release``). Holds of MTs waiting for a receipt are left alone."""
    cutoff = now - older_than
    rows = await conn.fetch(
        "SELECT r.idempotency_key FROM billing_reservations r WHERE r.status = 'held' AND r.created_at < $1"
        " AND NOT EXISTS (SELECT 1 FROM billing_pending_mt p WHERE p.idempotency_key = r.idempotency_key"
        " AND p.status = 'pending') ORDER BY r.created_at",
        cutoff,
    )
    released = 0
    for row in rows:
        released += await release(conn, row[0])
    return released


async def ensure_hold(
    conn: Conn, provider_id: int, key: str, event_type: str, amount: int, currency: str, now: datetime
) -> None:
    """Make sure ``key`` has a held reservation (hold ``amount`` now when :func:`reserve` was not called)."""
    if await _reservation(conn, key) is not None:
        return
    await _hold(conn, provider_id, amount, now)
    await conn.execute(
        "INSERT INTO billing_reservations"
        " (idempotency_key, provider_id, event_type, amount_minor, currency, status, created_at)"
        " VALUES ($1, $2, $3, $4, $5, 'held', $6)",
        key,
        provider_id,
        event_type,
        amount,
        currency,
        now,  # the clock's time, so release_stale compares like with like
    )


async def held_amount(conn: Conn, idempotency_key: str) -> int | None:
    """The amount of a *held* reservation for this key, or None."""
    found = await _reservation(conn, idempotency_key)
    return found.amount_minor if found is not None and found.status == "held" else None


async def charge(
    conn: Conn, provider_id: int, key: str, amount: int, currency: str, cdr_id: int, now: datetime
) -> None:
    """Debit ``amount`` for the CDR ``cdr_id``: commit the held reservation of ``key``, or debit directly.

    Must run inside the transaction that writes the CDR. Raises 402 errors when there is no hold and the
    balance cannot pay (the caller's transaction then rolls back: nothing is billed, nothing recorded).
    """
    # Atomic: a concurrent release() of the same key either wins (no row here: debit directly) or waits.
    held = await conn.fetchval(
        "UPDATE billing_reservations SET status = 'committed', settled_at = now()"
        " WHERE idempotency_key = $1 AND status = 'held' RETURNING amount_minor",
        key,
    )
    if held is not None:
        after = await conn.fetchval(
            "UPDATE billing_balances SET credits_minor = credits_minor - $2, reserved_minor = reserved_minor - $3,"
            " updated_at = now() WHERE provider_id = $1 RETURNING credits_minor",
            provider_id,
            amount,
            held,
        )
    else:
        after = await conn.fetchval(
            "UPDATE billing_balances SET credits_minor = credits_minor - $2, updated_at = now() WHERE provider_id = $1"
            " AND credits_minor - reserved_minor >= $2 AND (expires_at IS NULL OR expires_at > $3)"
            " RETURNING credits_minor",
            provider_id,
            amount,
            now,
        )
        if after is None:
            await _refuse(conn, provider_id, amount, now)
    if amount:
        await conn.execute(
            "INSERT INTO billing_ledger (provider_id, kind, amount_minor, balance_after_minor, currency, cdr_id)"
            " VALUES ($1, 'debit', $2, $3, $4, $5)",
            provider_id,
            -amount,
            after,
            currency,
            cdr_id,
        )
