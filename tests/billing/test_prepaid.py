"""Prepaid: top-ups (validation, idempotency, validity), reserve -> commit/release, 402 refusals, concurrency."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from lbs.billing import BalanceExpired, InsufficientBalance, LocationKind, LocationResult, record, release, reserve
from lbs.billing.prepaid import get_balance, top_up
from lbs.billing.rating import Account, EventType
from lbs.errors import InvalidArgument, NotFound
from lbs.settings import Settings
from tests.billing.conftest import NOV, contract

NOW = NOV + timedelta(days=5)  # the clock of every prepaid rule in these tests


def rest(provider_id: int, key: str) -> LocationResult:
    return LocationResult(idempotency_key=key, provider_id=provider_id, occurred_at=NOV, kind=LocationKind.REST)


@pytest.fixture
async def acme(db: asyncpg.Connection[Any], providers: dict[str, int], plans: None) -> int:
    await contract(db, providers["Acme"], "SUBMIT", Account.PREPAID)
    return providers["Acme"]


@pytest.mark.parametrize("amount", [0, -5, 2.5, "100", True, None, 10**12])
async def test_bad_top_ups_change_nothing(db: asyncpg.Connection[Any], acme: int, amount: object) -> None:
    with pytest.raises(InvalidArgument):
        await top_up(db, acme, amount, idempotency_key="t", now=NOW)
    assert await db.fetchval("SELECT count(*) FROM billing_ledger") == 0
    with pytest.raises(NotFound):
        await get_balance(db, acme, NOW)


async def test_top_up_is_idempotent_and_sets_validity(db: asyncpg.Connection[Any], acme: int) -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    first = await top_up(db, acme, 1000, idempotency_key="card-1", now=now, validity_days=365)
    again = await top_up(db, acme, 1000, idempotency_key="card-1", now=now, validity_days=365)
    assert first.credits_minor == again.credits_minor == 1000
    assert first.expires_at == now + timedelta(days=365)
    second = await top_up(db, acme, 500, idempotency_key="card-2", now=now + timedelta(days=10), validity_days=365)
    assert second.credits_minor == 1500
    assert second.expires_at == now + timedelta(days=375)


async def test_top_up_of_unknown_provider_is_404(db: asyncpg.Connection[Any], providers: dict[str, int]) -> None:
    with pytest.raises(NotFound):
        await top_up(db, 999_999, 100, idempotency_key="x", now=NOW)


async def test_top_up_in_another_currency_is_refused(db: asyncpg.Connection[Any], acme: int) -> None:
    await top_up(db, acme, 100, idempotency_key="a", now=NOW)
    with pytest.raises(InvalidArgument):
        await top_up(db, acme, 100, idempotency_key="b", currency="USD", now=NOW)
    assert (await get_balance(db, acme, NOW)).credits_minor == 100


async def test_reserve_commit_release(db: asyncpg.Connection[Any], acme: int) -> None:
    await top_up(db, acme, 20, idempotency_key="t", now=NOW)
    held = await reserve(db, provider_id=acme, event_type=EventType.LOCATION_REST, idempotency_key="r1", now=NOW)
    assert held is not None and held.amount_minor == 6
    assert (await get_balance(db, acme, NOW)).available_minor == 14
    assert (
        await reserve(db, provider_id=acme, event_type=EventType.LOCATION_REST, idempotency_key="r1", now=NOW) == held
    )
    # Success: the event is recorded under the same key and the hold becomes a debit.
    cdr = await record(db, rest(acme, "r1"))
    assert cdr is not None and cdr.amount_minor == 6
    bal = await get_balance(db, acme, NOW)
    assert (bal.credits_minor, bal.reserved_minor) == (14, 0)
    # Failure: the hold is released, nothing is billed.
    await reserve(db, provider_id=acme, event_type=EventType.LOCATION_REST, idempotency_key="r2", now=NOW)
    assert (await get_balance(db, acme, NOW)).available_minor == 8
    assert await release(db, "r2") is True
    assert await release(db, "r2") is False
    assert (await get_balance(db, acme, NOW)).available_minor == 14
    ledger = await db.fetch("SELECT kind, amount_minor, balance_after_minor FROM billing_ledger ORDER BY id")
    assert [tuple(r) for r in ledger] == [("topup", 20, 20), ("debit", -6, 14)]


async def test_insufficient_balance_refuses_before_anything(db: asyncpg.Connection[Any], acme: int) -> None:
    await top_up(db, acme, 10, idempotency_key="t", now=NOW)
    await reserve(db, provider_id=acme, event_type=EventType.LOCATION_REST, idempotency_key="a", now=NOW)
    with pytest.raises(InsufficientBalance) as err:
        await reserve(db, provider_id=acme, event_type=EventType.LOCATION_REST, idempotency_key="b", now=NOW)
    assert err.value.status == 402 and err.value.code == "INSUFFICIENT_BALANCE"
    assert err.value.details == {"needed_minor": 6, "available_minor": 4}
    with pytest.raises(InsufficientBalance):  # record() without a hold is refused too, and writes nothing
        await record(db, rest(acme, "c"))
    assert await db.fetchval("SELECT count(*) FROM billing_cdrs") == 0


async def test_no_balance_at_all_is_insufficient(db: asyncpg.Connection[Any], acme: int) -> None:
    with pytest.raises(InsufficientBalance):
        await reserve(db, provider_id=acme, event_type=EventType.MT, idempotency_key="a", now=NOW)


async def test_expired_balance(db: asyncpg.Connection[Any], acme: int) -> None:
    long_ago = NOW - timedelta(days=400)
    await top_up(db, acme, 100, idempotency_key="old", now=long_ago, validity_days=365)
    with pytest.raises(BalanceExpired) as err:
        await reserve(db, provider_id=acme, event_type=EventType.LOCATION_REST, idempotency_key="a", now=NOW)
    assert err.value.status == 402 and err.value.code == "BALANCE_EXPIRED"
    assert (await get_balance(db, acme, NOW)).available_minor == 0
    # A new top-up forfeits the expired credit (ledger line) and starts a new validity.
    bal = await top_up(db, acme, 50, idempotency_key="new", now=NOW)
    assert bal.credits_minor == 50 and bal.available_minor == 50
    kinds = [r[0] for r in await db.fetch("SELECT kind FROM billing_ledger ORDER BY id")]
    assert kinds == ["topup", "expire", "topup"]


async def test_postpaid_providers_reserve_nothing(db: asyncpg.Connection[Any], providers: dict[str, int]) -> None:
    held = await reserve(db, provider_id=providers["Other"], event_type=EventType.MT, idempotency_key="a", now=NOW)
    assert held is None


async def test_ledger_is_append_only(db: asyncpg.Connection[Any], acme: int) -> None:
    await top_up(db, acme, 10, idempotency_key="t", now=NOW)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await db.execute("UPDATE billing_ledger SET amount_minor = 1000")


async def test_fifty_concurrent_reservations_never_overdraw(
    db: asyncpg.Connection[Any], acme: int, settings: Settings
) -> None:
    await top_up(db, acme, 30 * 6, idempotency_key="t", now=NOW)  # room for exactly 30 REST locations at 6 cents
    pool = await asyncpg.create_pool(settings.database_url, min_size=10, max_size=25)
    assert pool is not None

    async def one(i: int) -> bool:
        async with pool.acquire() as conn:
            try:
                await reserve(
                    conn, provider_id=acme, event_type=EventType.LOCATION_REST, idempotency_key=f"c{i}", now=NOW
                )  # type: ignore[arg-type]
            except InsufficientBalance:
                return False
            return True

    try:
        results = await asyncio.gather(*(one(i) for i in range(50)))
    finally:
        await pool.close()
    assert results.count(True) == 30
    bal = await get_balance(db, acme, NOW)
    assert (bal.credits_minor, bal.reserved_minor, bal.available_minor) == (180, 180, 0)
    assert await db.fetchval("SELECT count(*) FROM billing_reservations WHERE status = 'held'") == 30


async def test_fifty_concurrent_records_without_holds_never_overdraw(
    db: asyncpg.Connection[Any], acme: int, settings: Settings
) -> None:
    await top_up(db, acme, 30 * 6, idempotency_key="t", now=NOW)
    pool = await asyncpg.create_pool(settings.database_url, min_size=10, max_size=25)
    assert pool is not None

    async def one(i: int) -> bool:
        async with pool.acquire() as conn:
            try:
                return await record(conn, rest(acme, f"c{i}")) is not None  # type: ignore[arg-type]
            except InsufficientBalance:
                return False

    try:
        results = await asyncio.gather(*(one(i) for i in range(50)))
    finally:
        await pool.close()
    assert results.count(True) == 30
    assert await db.fetchval("SELECT count(*) FROM billing_cdrs") == 30
    bal = await get_balance(db, acme, NOW)
    assert (bal.credits_minor, bal.reserved_minor) == (0, 0)


async def test_stale_holds_are_released(db: asyncpg.Connection[Any], acme: int) -> None:
    from lbs.billing.prepaid import release_stale

    await top_up(db, acme, 100, idempotency_key="t", now=NOW)
    await reserve(db, provider_id=acme, event_type=EventType.LOCATION_REST, idempotency_key="crashed", now=NOW)
    assert await release_stale(db, timedelta(minutes=5), NOW) == 0  # too young
    later = NOW + timedelta(minutes=10)
    assert await release_stale(db, timedelta(minutes=5), now=later) == 1
    assert (await get_balance(db, acme, NOW)).available_minor == 100


async def test_prepaid_validity_both_sides_of_expiry(db: asyncpg.Connection[Any], acme: int) -> None:
    bal = await top_up(db, acme, 100, idempotency_key="t", now=NOW, validity_days=30)
    assert bal.expires_at == NOW + timedelta(days=30)
    last_moment = NOW + timedelta(days=30, microseconds=-1)
    assert await reserve(db, provider_id=acme, event_type=EventType.LOCATION_REST, idempotency_key="a", now=last_moment)
    with pytest.raises(BalanceExpired):
        await reserve(db, provider_id=acme, event_type=EventType.LOCATION_REST, idempotency_key="b", now=bal.expires_at)
    assert (await get_balance(db, acme, last_moment)).available_minor == 94
    assert (await get_balance(db, acme, bal.expires_at)).available_minor == 0
