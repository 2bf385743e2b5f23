"""The event interface: record() in the caller's transaction, idempotent replays, delivery-based charging."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from lbs.billing import LocationKind, LocationResult, MoCharge, MoMessage, MtSegment, on_receipt, record
from lbs.billing.rating import Account
from tests.billing.conftest import NOV, contract


def loc(provider_id: int, key: str, kind: LocationKind = LocationKind.ACTIVE) -> LocationResult:
    return LocationResult(idempotency_key=key, provider_id=provider_id, occurred_at=NOV, kind=kind, short_code="3311")


def mt(provider_id: int, key: str, message_key: str, segment: int = 1, **kw: Any) -> MtSegment:
    return MtSegment(
        idempotency_key=key,
        provider_id=provider_id,
        occurred_at=NOV,
        message_key=message_key,
        segment=segment,
        short_code="3311",
        **kw,
    )


async def cdr_count(db: asyncpg.Connection[Any]) -> int:
    return int(await db.fetchval("SELECT count(*) FROM billing_cdrs"))


async def test_location_is_rated_with_allowance_and_tiers(
    db: asyncpg.Connection[Any], providers: dict[str, int], plans: None
) -> None:
    acme = providers["Acme"]
    await contract(db, acme, "SUBMIT")
    amounts = []
    for i in range(5):
        cdr = await record(db, loc(acme, f"loc-{i}"))
        assert cdr is not None and cdr.id > 0
        amounts.append(cdr.amount_minor)
    assert amounts == [0, 5, 5, 4, 4]  # 1 free, then 5c, from the 4th unit 4c
    assert await cdr_count(db) == 5


async def test_replay_bills_once(db: asyncpg.Connection[Any], providers: dict[str, int], plans: None) -> None:
    acme = providers["Acme"]
    await contract(db, acme, "SUBMIT")
    first = await record(db, loc(acme, "loc-1", LocationKind.REST))
    assert first is not None and first.amount_minor == 6
    assert await record(db, loc(acme, "loc-1", LocationKind.REST)) is None
    assert await cdr_count(db) == 1


async def test_cdr_rolls_back_with_the_callers_transaction(
    db: asyncpg.Connection[Any], providers: dict[str, int], plans: None
) -> None:
    acme = providers["Acme"]
    with pytest.raises(RuntimeError):
        async with db.transaction():
            assert await record(db, loc(acme, "loc-x")) is not None
            raise RuntimeError("the LES answer could not be stored")
    assert await cdr_count(db) == 0
    assert await record(db, loc(acme, "loc-x")) is not None  # the retry bills it, once


async def test_no_contract_uses_the_default_plan(db: asyncpg.Connection[Any], providers: dict[str, int]) -> None:
    cdr = await record(db, loc(providers["Acme"], "k"))
    assert cdr is not None
    assert (cdr.plan_code, cdr.account, cdr.amount_minor, cdr.currency) == ("DEFAULT", "postpaid", 5, "EUR")


async def test_submission_point_bills_each_segment_at_once(
    db: asyncpg.Connection[Any], providers: dict[str, int], plans: None
) -> None:
    acme = providers["Acme"]
    await contract(db, acme, "SUBMIT")
    for seg in (1, 2, 3):
        cdr = await record(db, mt(acme, f"mt-1:{seg}", "smsc-1", seg))
        assert cdr is not None and cdr.amount_minor == 3 and cdr.charging_point == "submission"
    assert await on_receipt(db, "smsc-1", "UNDELIV") == []  # charged on submission: a failure refunds nothing
    assert await cdr_count(db) == 3


async def test_delivery_point_bills_on_delivrd_only(
    db: asyncpg.Connection[Any], providers: dict[str, int], plans: None
) -> None:
    acme = providers["Acme"]
    await contract(db, acme, "DELIVERY")
    assert await record(db, mt(acme, "a:1", "smsc-a")) is None
    assert await record(db, mt(acme, "b:1", "smsc-b")) is None
    assert await record(db, mt(acme, "a:1", "smsc-a")) is None  # replay
    assert await cdr_count(db) == 0
    assert await on_receipt(db, "smsc-a", "ENROUTE") == []  # not final
    delivered = await on_receipt(db, "smsc-a", "DELIVRD")
    assert [c.amount_minor for c in delivered] == [3]
    assert delivered[0].charging_point == "delivery"
    assert await on_receipt(db, "smsc-a", "DELIVRD") == []  # a repeated receipt bills nothing more
    assert await on_receipt(db, "smsc-b", "UNDELIV") == []
    assert await on_receipt(db, "smsc-b", "DELIVRD") == []  # settled as failed: never billed
    assert await cdr_count(db) == 1
    units = await db.fetchval("SELECT units FROM billing_counters WHERE event_type = 'mt'")
    assert units == 1  # the failed segment gave its unit back


async def test_mt_r_and_premium_mo_are_paid_by_the_subscriber(
    db: asyncpg.Connection[Any], providers: dict[str, int], plans: None
) -> None:
    acme = providers["Acme"]
    await contract(db, acme, "SUBMIT")
    mtr = await record(db, mt(acme, "r:1", "smsc-r", reverse_charged=True, subscriber="+32470000001"))
    assert mtr is not None
    assert (mtr.event_type, mtr.payer, mtr.amount_minor, mtr.share_minor) == ("mt_r", "subscriber", 25, 12)
    assert mtr.msisdn == "+32470000001"
    mo = MoMessage(
        idempotency_key="mo:1", provider_id=acme, occurred_at=NOV, charge=MoCharge.PREMIUM, subscriber="+32470000002"
    )
    cdr = await record(db, mo)
    assert cdr is not None and (cdr.amount_minor, cdr.share_minor) == (100, 60)
    plain = await record(db, MoMessage(idempotency_key="mo:2", provider_id=acme, occurred_at=NOV, subscriber="+3247"))
    assert plain is not None and plain.msisdn is None and plain.amount_minor == 0  # MO unpriced in this plan


async def test_prepaid_record_without_reservation_debits(
    db: asyncpg.Connection[Any], providers: dict[str, int], plans: None
) -> None:
    from lbs.billing.prepaid import get_balance, top_up

    acme = providers["Acme"]
    await contract(db, acme, "SUBMIT", Account.PREPAID)
    await top_up(db, acme, 10, idempotency_key="t1", now=NOV)
    await record(db, loc(acme, "p0"))  # free unit
    await record(db, loc(acme, "p1"))  # 5
    await record(db, loc(acme, "p2"))  # 5
    bal = await get_balance(db, acme, NOV)
    assert (bal.credits_minor, bal.reserved_minor) == (0, 0)


async def test_unknown_provider_is_not_found_and_writes_nothing(
    db: asyncpg.Connection[Any], providers: dict[str, int]
) -> None:
    from lbs.errors import NotFound

    with pytest.raises(NotFound):
        await record(db, loc(999_999, "ghost"))
    assert await db.fetchval("SELECT count(*) FROM billing_counters") == 0


@pytest.mark.parametrize("key", ["", "x" * 201, "tab\there"])
async def test_bad_idempotency_keys(db: asyncpg.Connection[Any], providers: dict[str, int], key: str) -> None:
    from lbs.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        await record(db, loc(providers["Acme"], key))


async def test_naive_occurred_at_is_refused(db: asyncpg.Connection[Any], providers: dict[str, int]) -> None:
    from lbs.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        await record(
            db,
            LocationResult(
                idempotency_key="k",
                provider_id=providers["Acme"],
                occurred_at=NOV.replace(tzinfo=None),
                kind=LocationKind.REST,
            ),
        )
