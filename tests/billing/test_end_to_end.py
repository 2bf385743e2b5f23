"""An active query, billed the way the platform runs it: the location CDR in the query's transaction, the reply
through the real MT outbox, segments billed by the messaging core's listeners on submission and receipt."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from lbs.billing import LocationKind, LocationResult, record
from lbs.billing.hooks import attach, bill_lines, bill_mt_receipt, bill_submitted_mt, reserve_mt
from lbs.billing.prepaid import get_balance, top_up
from lbs.billing.rating import Account
from lbs.messaging import outbox
from lbs.settings import Settings
from tests.billing.conftest import NOV, contract

NOW = NOV  # the clock of every billing rule in these tests

REPLY = "Nearest pharmacies: " + "; ".join(f"Pharmacie {i}, Rue de la Loi {i}, 1000 Bruxelles" for i in range(4))


async def active_query(db: asyncpg.Connection[Any], settings: Settings, app_id: int, pid: int, req: str) -> int:
    """What the active-query handler does in one transaction: bill the location, enqueue the reply."""
    async with db.transaction():
        await record(
            db,
            LocationResult(
                idempotency_key=f"loc:{req}",
                provider_id=pid,
                application_id=app_id,
                occurred_at=NOW,
                kind=LocationKind.ACTIVE,
                short_code="3311",
            ),
        )
        mt = outbox.MtRequest(
            msisdn="+32470000001", body=REPLY, source="3311", application_id=app_id, idempotency_key=f"reply:{req}"
        )
        done = await outbox.enqueue(db, mt, now=NOW, pseudonym_key="k", short_code="3311")
        assert done.id is not None and done.segments == 2
        await reserve_mt(db, provider_id=pid, mt_id=done.id, segments=done.segments, now=NOW)
        return done.id


async def smsc_accepts(db: asyncpg.Connection[Any], mt_id: int) -> None:
    """What the messaging core does on submit_sm_resp OK: mark submitted, call the submit listeners."""
    async with db.transaction():
        row = await db.fetchrow(
            "UPDATE mt_messages SET status = 'submitted', smsc_message_id = $2, submitted_at = $3"
            " WHERE id = $1 RETURNING *",
            mt_id,
            f"smsc-{mt_id}",
            NOW,
        )
        await bill_submitted_mt(db, row)


async def receipt(db: asyncpg.Connection[Any], mt_id: int, stat: str) -> None:
    """What the messaging core does with a receipt: store it, apply it, call the receipt listeners."""
    now = NOW
    async with db.transaction():
        await outbox.store_receipts(db, [(f"smsc-{mt_id}", stat)], now)
        for finished, final_stat in await outbox.apply_receipts(db, now, [f"smsc-{mt_id}"]):
            await bill_mt_receipt(db, finished, final_stat)


@pytest.fixture
async def app_id(db: asyncpg.Connection[Any], providers: dict[str, int], plans: None) -> int:
    return int(
        await db.fetchval(
            "INSERT INTO applications (provider_id, name) VALUES ($1, 'PHARMA') RETURNING id", providers["Acme"]
        )
    )


async def kinds(db: asyncpg.Connection[Any]) -> list[tuple[str, int | None]]:
    return [tuple(r) for r in await db.fetch("SELECT event_type, segment FROM billing_cdrs ORDER BY id")]  # type: ignore[misc]


@pytest.mark.parametrize("plan", ["DELIVERY", "SUBMIT"])
async def test_one_location_cdr_and_one_mt_cdr_per_segment(
    db: asyncpg.Connection[Any], settings: Settings, providers: dict[str, int], app_id: int, plan: str
) -> None:
    await contract(db, providers["Acme"], plan)
    mt_id = await active_query(db, settings, app_id, providers["Acme"], "q1")
    await smsc_accepts(db, mt_id)
    await receipt(db, mt_id, "DELIVRD")
    await receipt(db, mt_id, "DELIVRD")  # a duplicated receipt
    await smsc_accepts(db, mt_id)  # a replayed submit outcome
    assert await kinds(db) == [("location_active", None), ("mt", 1), ("mt", 2)]


async def test_failed_delivery_bills_only_the_location(
    db: asyncpg.Connection[Any], settings: Settings, providers: dict[str, int], app_id: int
) -> None:
    pid = providers["Acme"]
    await contract(db, pid, "DELIVERY", Account.PREPAID)
    await top_up(db, pid, 100, idempotency_key="t", now=NOW)
    mt_id = await active_query(db, settings, app_id, pid, "q2")
    assert (await get_balance(db, pid, NOW)).reserved_minor == 6  # two segments held at 3 cents
    await smsc_accepts(db, mt_id)
    await receipt(db, mt_id, "UNDELIV")
    assert await kinds(db) == [("location_active", None)]
    bal = await get_balance(db, pid, NOW)
    assert (bal.credits_minor, bal.reserved_minor) == (95, 0)  # the location paid, the MT holds released
    lines = await bill_lines(db, settings, pid, NOW)
    assert lines[0].startswith("Bill so far for Acme") and "Total excluding tax: 0.05 EUR" in lines[-1]


async def test_platform_messages_are_not_billed(db: asyncpg.Connection[Any], providers: dict[str, int]) -> None:
    async with db.transaction():
        done = await outbox.enqueue(
            db,
            outbox.MtRequest(msisdn="+32470000001", body="HELP: ...", source="3311"),
            now=NOW,
            pseudonym_key="k",
            short_code="3311",
        )
    assert done.id is not None
    await smsc_accepts(db, done.id)
    assert await kinds(db) == []


def test_attach_adds_both_listeners() -> None:
    class Core:
        def __init__(self) -> None:
            self.receipt_listeners: list[Any] = []
            self.submit_listeners: list[Any] = []

    core = Core()
    attach(core)
    assert core.submit_listeners == [bill_submitted_mt] and core.receipt_listeners == [bill_mt_receipt]


async def test_billing_trouble_never_fails_the_submit_batch(
    db: asyncpg.Connection[Any], settings: Settings, providers: dict[str, int], app_id: int
) -> None:
    pid = providers["Acme"]
    await contract(db, pid, "SUBMIT", Account.PREPAID)  # prepaid, no credit at all
    async with db.transaction():  # enqueued as the platform's own, then given to the application: no hold
        done = await outbox.enqueue(
            db,
            outbox.MtRequest(msisdn="+32470000001", body="hi", source="3311"),
            now=NOW,
            pseudonym_key="k",
            short_code="3311",
        )
        assert done.id is not None
        await db.execute("UPDATE mt_messages SET application_id = $1 WHERE id = $2", app_id, done.id)
    await smsc_accepts(db, done.id)  # no exception: the MT stays submitted, the unpaid unit is logged
    assert await db.fetchval("SELECT status FROM mt_messages WHERE id = $1", done.id) == "submitted"
    assert await kinds(db) == []


async def test_demo_bill(db: asyncpg.Connection[Any], settings: Settings, providers: dict[str, int]) -> None:
    from lbs.billing.hooks import print_demo_bill

    await record(
        db,
        LocationResult(
            idempotency_key="d",
            provider_id=providers["Acme"],
            occurred_at=NOW,
            kind=LocationKind.ACTIVE,
            short_code="3311",
        ),
    )
    lines: list[str] = []
    await print_demo_bill(settings, lines.append, ["Acme", "Nobody"], NOW)
    assert lines[0].startswith("Bill so far for Acme") and any(
        "Location, active lookup via 3311: 1" in x for x in lines
    )


async def test_a_prepaid_mt_is_held_at_enqueue_and_refused_without_credit(
    db: asyncpg.Connection[Any], providers: dict[str, int], app_id: int
) -> None:
    pid = providers["Acme"]
    await contract(db, pid, "SUBMIT", Account.PREPAID)
    mt = outbox.MtRequest(msisdn="+32470000001", body=REPLY, source="3311", application_id=app_id)
    async with db.transaction():
        refused = await outbox.enqueue(db, mt, now=NOW, pseudonym_key="k", short_code="3311")
        await db.execute("SELECT 1")  # the caller's transaction is still usable
    assert refused.status == "suppressed:payment_required" and refused.id is None
    assert await db.fetchval("SELECT count(*) FROM mt_messages") == 0  # the enqueue rolled back
    await top_up(db, pid, 1_000, idempotency_key="card-1", now=NOW)
    async with db.transaction():
        held = await outbox.enqueue(db, mt, now=NOW, pseudonym_key="k", short_code="3311")
    assert held.id is not None and held.segments == 2
    keys = await db.fetch("SELECT idempotency_key FROM billing_reservations WHERE status = 'held' ORDER BY 1")
    assert [r[0] for r in keys] == [f"mt:{held.id}:1", f"mt:{held.id}:2"]
    assert (await get_balance(db, pid, NOW)).reserved_minor > 0
