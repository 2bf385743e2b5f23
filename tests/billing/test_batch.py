"""record_many(): the same CDRs as record() one by one, in few round trips; replays and prepaid units included."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg

from lbs.billing import LocationKind, LocationResult, MtSegment, record, record_many
from lbs.billing.prepaid import get_balance, top_up
from lbs.billing.rating import Account
from tests.billing.conftest import NOV, contract


def positions(pid: int, n: int, tag: str = "p") -> list[LocationResult]:
    return [
        LocationResult(idempotency_key=f"{tag}{i}", provider_id=pid, occurred_at=NOV + timedelta(seconds=i),
                       kind=LocationKind.ACTIVE, short_code="3311")
        for i in range(n)
    ]  # fmt: skip


async def amounts(db: asyncpg.Connection[Any]) -> list[tuple[str, int]]:
    return [tuple(r) for r in await db.fetch("SELECT idempotency_key, amount_minor FROM billing_cdrs ORDER BY 1")]  # type: ignore[misc]


async def test_batch_prices_like_one_by_one(
    db: asyncpg.Connection[Any], providers: dict[str, int], plans: None
) -> None:
    acme, other = providers["Acme"], providers["Other"]
    await contract(db, acme, "SUBMIT")
    await contract(db, other, "SUBMIT")
    for e in positions(other, 6):
        await record(db, e)
    one_by_one = [a for _, a in await amounts(db)]
    written = await record_many(db, positions(acme, 6, "b"))
    assert [c.amount_minor for c in written] == one_by_one == [0, 5, 5, 4, 4, 4]
    assert all(c.id > 0 for c in written)


async def test_batch_replays_and_duplicates(
    db: asyncpg.Connection[Any], providers: dict[str, int], plans: None
) -> None:
    acme = providers["Acme"]
    batch = positions(acme, 4)
    await record(db, batch[0])
    written = await record_many(db, [*batch, batch[1], batch[2]])
    assert sorted(c.idempotency_key for c in written) == ["p1", "p2", "p3"]
    assert await record_many(db, batch) == []
    assert len(await amounts(db)) == 4


async def test_batch_with_prepaid_and_held_mts(
    db: asyncpg.Connection[Any], providers: dict[str, int], plans: None
) -> None:
    acme, other = providers["Acme"], providers["Other"]
    await contract(db, acme, "SUBMIT", Account.PREPAID)
    await contract(db, other, "DELIVERY")
    await top_up(db, acme, 100, idempotency_key="t", now=NOV)
    mt = MtSegment(idempotency_key="m:1", provider_id=other, occurred_at=NOV, message_key="m")
    written = await record_many(db, [*positions(acme, 3), mt])
    assert sorted(c.amount_minor for c in written) == [0, 5, 5]  # the MT waits for its receipt
    assert (await get_balance(db, acme, NOV)).credits_minor == 90
    assert await db.fetchval("SELECT count(*) FROM billing_pending_mt") == 1


async def test_empty_batch(db: asyncpg.Connection[Any]) -> None:
    assert await record_many(db, []) == []


async def test_batch_with_an_unknown_provider_writes_nothing(
    db: asyncpg.Connection[Any], providers: dict[str, int]
) -> None:
    import pytest

    from lbs.errors import NotFound

    with pytest.raises(NotFound):
        await record_many(db, [*positions(providers["Acme"], 2), *positions(999_999, 1, "x")])
    assert await amounts(db) == []
