"""Statements: built from CDRs and fees, a month closes exactly once, late events roll over, CSV/HTML, revenue."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import pytest

from lbs.billing import LocationKind, LocationResult, MoCharge, MoMessage, MonthAlreadyClosed, MtSegment, record
from lbs.billing.fees import add_fee
from lbs.billing.rating import FeeSchedule
from lbs.billing.render import to_csv, to_html
from lbs.billing.revenue import revenue
from lbs.billing.statements import build_statement, close_month, get_statement, list_statements
from lbs.errors import InvalidArgument, NotFound
from tests.billing.conftest import NOV, contract

SCHEDULE = FeeSchedule()
NOV_1 = date(2026, 11, 1)
AFTER_NOV = datetime(2026, 12, 2, tzinfo=UTC)


async def traffic(db: asyncpg.Connection[Any], pid: int, tag: str = "", at: datetime = NOV) -> None:
    """3 active locations (1 free), 2 MT segments, 1 MT-R, 1 premium MO, 1 REST location without short code."""
    for i in range(3):
        await record(
            db,
            LocationResult(
                idempotency_key=f"{tag}l{i}",
                provider_id=pid,
                occurred_at=at,
                kind=LocationKind.ACTIVE,
                short_code="3311",
            ),
        )
    for seg in (1, 2):
        await record(
            db,
            MtSegment(
                idempotency_key=f"{tag}m:{seg}",
                provider_id=pid,
                occurred_at=at,
                message_key=f"{tag}m",
                segment=seg,
                short_code="3311",
            ),
        )
    await record(
        db,
        MtSegment(
            idempotency_key=f"{tag}r",
            provider_id=pid,
            occurred_at=at,
            message_key=f"{tag}r",
            reverse_charged=True,
            subscriber="+32470000009",
            short_code="3311",
        ),
    )
    await record(
        db,
        MoMessage(
            idempotency_key=f"{tag}p",
            provider_id=pid,
            occurred_at=at,
            charge=MoCharge.PREMIUM,
            short_code="4444",
            subscriber="+32470000008",
        ),
    )
    await record(
        db, LocationResult(idempotency_key=f"{tag}rest", provider_id=pid, occurred_at=at, kind=LocationKind.REST)
    )


@pytest.fixture
async def acme(db: asyncpg.Connection[Any], providers: dict[str, int], plans: None) -> int:
    pid = providers["Acme"]
    await contract(db, pid, "SUBMIT")
    await db.execute(
        "INSERT INTO short_codes (code, provider_id, system_id, throughput_tps, created_at)"
        " VALUES ('3311', $1, 'acme', 50, '2026-01-01'), ('4444', $1, 'acme', 10, '2026-01-01')",
        pid,
    )
    await add_fee(db, provider_id=pid, kind="setup", starts_on=NOV_1, amount_minor=20_000, schedule=SCHEDULE)
    await add_fee(db, provider_id=pid, kind="oadc", starts_on=date(2026, 10, 1), schedule=SCHEDULE)
    return pid


async def test_statement_lines_and_totals(db: asyncpg.Connection[Any], acme: int) -> None:
    await traffic(db, acme)
    s = await build_statement(db, acme, NOV_1, SCHEDULE, AFTER_NOV)
    by_kind = {
        (ln.kind, ln.event_type, ln.short_code): (ln.quantity, ln.amount_minor) for ln in s.lines if ln.kind != "fee"
    }
    assert by_kind == {
        ("usage", "location_active", "3311"): (3, 0 + 5 + 5),
        ("usage", "location_rest", None): (1, 6),
        ("usage", "mt", "3311"): (2, 6),
        ("share", "mt_r", "3311"): (1, -12),
        ("share", "mo_premium", "4444"): (1, -60),
    }
    fees = sorted(ln.amount_minor for ln in s.lines if ln.kind == "fee")
    assert fees == sorted([15_000, 160_000, 15_000, 20_000, 15_000])  # 2 codes, 50 SMS/s, set-up, OADC
    cdr_net = await db.fetchval(
        "SELECT sum(CASE WHEN payer = 'provider' THEN amount_minor ELSE -share_minor END) FROM billing_cdrs"
    )
    assert s.totals.total_minor == cdr_net + sum(fees)
    assert s.status == "open" and s.account == "postpaid"


async def test_close_month_once(db: asyncpg.Connection[Any], acme: int, providers: dict[str, int]) -> None:
    await traffic(db, acme)
    preview = await build_statement(db, acme, NOV_1, SCHEDULE, AFTER_NOV)
    closed = await close_month(db, NOV_1, closed_by="test", schedule=SCHEDULE, now=AFTER_NOV)
    assert [s.provider_id for s in closed] == [acme]  # Other has no traffic, contract, fee or short code
    stored = await get_statement(db, closed[0].id or 0)
    assert stored.totals == preview.totals and stored.lines == preview.lines and stored.status == "closed"
    with pytest.raises(MonthAlreadyClosed) as err:
        await close_month(db, NOV_1, closed_by="test", schedule=SCHEDULE, now=AFTER_NOV)
    assert err.value.status == 409 and err.value.code == "MONTH_ALREADY_CLOSED"
    assert await db.fetchval("SELECT count(*) FROM billing_statements") == 1
    with pytest.raises(NotFound):
        await get_statement(db, stored.id or 0, provider_id=providers["Other"])
    assert [s["id"] for s in await list_statements(db, provider_id=acme)] == [stored.id]


async def test_a_month_that_has_not_ended_cannot_close(db: asyncpg.Connection[Any], acme: int) -> None:
    with pytest.raises(InvalidArgument):
        await close_month(db, NOV_1, closed_by="t", schedule=SCHEDULE, now=datetime(2026, 11, 30, 23, tzinfo=UTC))
    assert await db.fetchval("SELECT count(*) FROM billing_months") == 0


async def test_late_events_bill_in_the_next_open_month(db: asyncpg.Connection[Any], acme: int) -> None:
    await close_month(db, NOV_1, closed_by="t", schedule=SCHEDULE, now=AFTER_NOV)
    late = await record(
        db, LocationResult(idempotency_key="late", provider_id=acme, occurred_at=NOV, kind=LocationKind.REST)
    )
    assert late is not None and late.period == date(2026, 12, 1)


async def test_cdrs_and_statements_are_append_only(db: asyncpg.Connection[Any], acme: int) -> None:
    await traffic(db, acme)
    await close_month(db, NOV_1, closed_by="t", schedule=SCHEDULE, now=AFTER_NOV)
    for sql in (
        "UPDATE billing_cdrs SET amount_minor = 0",
        "DELETE FROM billing_cdrs",
        "UPDATE billing_statements SET total_minor = 0",
        "DELETE FROM billing_months",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.execute(sql)


async def test_csv_and_html(db: asyncpg.Connection[Any], acme: int) -> None:
    await traffic(db, acme)
    s = (await close_month(db, NOV_1, closed_by="t", schedule=SCHEDULE, now=AFTER_NOV))[0]
    rows = list(csv.DictReader(io.StringIO(to_csv(s))))
    lines = [r for r in rows if r["kind"] != "total"]
    assert sum(int(r["amount_minor"]) for r in lines) == s.totals.total_minor
    total = next(r for r in rows if r["description"] == "total_excl_tax")
    assert int(total["amount_minor"]) == s.totals.total_minor
    page = to_html(s)
    assert page.startswith("<!doctype html>") and "Total excluding tax" in page and "<script" not in page


async def test_html_escapes_names(db: asyncpg.Connection[Any], providers: dict[str, int]) -> None:
    pid = await db.fetchval("INSERT INTO providers (name) VALUES ('<b>Evil</b>') RETURNING id")
    page = to_html(await build_statement(db, pid, NOV_1, SCHEDULE, AFTER_NOV))
    assert "<b>Evil" not in page and "&lt;b&gt;Evil" in page


async def test_revenue_view(db: asyncpg.Connection[Any], acme: int, providers: dict[str, int]) -> None:
    await traffic(db, acme)
    await traffic(db, providers["Other"], tag="o")  # default plan, no short codes of its own
    view = await revenue(db, NOV_1, SCHEDULE)
    by_code = {c["short_code"]: c for c in view["by_short_code"]}
    assert sum(c["revenue_minor"] for c in by_code.values()) == view["total_revenue_minor"]
    assert sum(p["revenue_minor"] for p in view["by_provider"]) == view["total_revenue_minor"]
    shares = {(s["provider_id"], s["event_type"]): s for s in view["revenue_share"]}
    mtr = shares[(acme, "mt_r")]
    assert (mtr["subscriber_paid_minor"], mtr["provider_share_minor"], mtr["operator_keeps_minor"]) == (25, 12, 13)
    assert shares[(providers["Other"], "mo_premium")]["provider_share_minor"] == 60
    assert by_code["4444"]["fees_minor"] == 15_000
    assert by_code["none"]["fees_minor"] == 20_000 + 15_000  # set-up and OADC name no short code


async def test_close_waits_for_a_recording_transaction(db: asyncpg.Connection[Any], acme: int, settings: Any) -> None:
    import asyncio

    other = await asyncpg.connect(settings.database_url)
    try:
        tx = db.transaction()
        await tx.start()
        await record(
            db, LocationResult(idempotency_key="inflight", provider_id=acme, occurred_at=NOV, kind=LocationKind.REST)
        )
        closing = asyncio.ensure_future(
            close_month(other, NOV_1, closed_by="t", schedule=SCHEDULE, now=AFTER_NOV)  # type: ignore[arg-type]
        )
        await asyncio.sleep(0.3)
        assert not closing.done()  # the close waits for the CDR's transaction
        await tx.commit()
        statements = await asyncio.wait_for(closing, 10)
        usage = {ln.event_type: ln.quantity for ln in statements[0].lines if ln.kind == "usage"}
        assert usage == {"location_rest": 1}  # the in-flight CDR is on the statement, not lost
    finally:
        await other.close()
