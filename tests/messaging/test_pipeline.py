"""The messaging core over real SMPP sockets to the SMSC emulator, with the outbox in PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from api.keys import MESSAGING_KEY
from lbs.messaging.outbox import MtRequest
from tests.conftest import Stack

H1, H2, H3 = "+32470000011", "+32470000012", "+32470000013"


async def wait_status(db: asyncpg.Connection[Any], mt_id: int, status: str, within_s: float = 10.0) -> asyncpg.Record:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        row = await db.fetchrow("SELECT * FROM mt_messages WHERE id = $1", mt_id)
        if row is not None and row["status"] == status:
            return row
        assert asyncio.get_running_loop().time() < deadline, dict(row) if row else None
        await asyncio.sleep(0.02)


async def send(stack: Stack, req: MtRequest) -> int:
    result = await stack.app[MESSAGING_KEY].send(req)
    assert result.id is not None, result
    return result.id


async def test_mt_is_submitted_then_delivered(stack: Stack, db: asyncpg.Connection[Any]) -> None:
    mt_id = await send(stack, MtRequest(H1, "Hello from the outbox", "3311"))
    row = await wait_status(db, mt_id, "delivered")
    assert row["smsc_message_id"] and row["submitted_at"] and row["done_at"] and row["segments"] == 1
    box = await stack.wait_inbox(H1, 1)
    assert box[0]["text"] == "Hello from the outbox"


@pytest.mark.parametrize(
    ("text", "segments", "encoding"),
    [
        ("A" * 200, 2, "gsm0338"),
        ("€" * 100, 2, "gsm0338"),  # 200 septets: the library alone would call this one part
        ("Привет, мир! " * 12, 3, "ucs2"),
        ("emoji 😀 " * 20, 3, "ucs2"),
    ],
)
async def test_long_messages_are_concatenated(
    stack: Stack, db: asyncpg.Connection[Any], text: str, segments: int, encoding: str
) -> None:
    mt_id = await send(stack, MtRequest(H2, text, "3311"))
    row = await wait_status(db, mt_id, "delivered")
    assert (row["segments"], row["encoding"]) == (segments, encoding)
    box = await stack.wait_inbox(H2, 1)
    assert box[-1]["text"] == text


async def test_mo_reply_is_exactly_once_and_mo_is_kept(stack: Stack, db: asyncpg.Connection[Any]) -> None:
    await stack.mo(H3, "PING")
    box = await stack.wait_inbox(H3, 1)
    assert box[0]["text"] == "PONG"
    mo = await db.fetchrow("SELECT * FROM mo_messages WHERE msisdn = $1", H3)
    assert mo is not None and mo["status"] == "handled" and mo["body"] == "PING"
    assert await db.fetchval("SELECT count(*) FROM mt_messages WHERE idempotency_key = $1", f"mo:{mo['id']}:reply") == 1


@pytest.mark.parametrize("ref_bits", [8, 16])
async def test_long_mo_is_reassembled(stack: Stack, db: asyncpg.Connection[Any], ref_bits: int) -> None:
    text = "HELP " + "x" * 300  # three parts
    await stack.mo(H1, text, udh_ref_bits=ref_bits)
    box = await stack.wait_inbox(H1, 1)
    assert "STOP" in box[0]["text"]
    assert await db.fetchval("SELECT body FROM mo_messages WHERE msisdn = $1", H1) == text


@pytest.mark.parametrize(
    ("stop", "start", "confirmation"),
    [("STOP", "START", "no more promotional"), ("ARRET", "START", "plus de SMS"), ("STOPPEN", "START", "geen")],
)
async def test_stop_and_start_in_three_languages(
    stack: Stack, db: asyncpg.Connection[Any], stop: str, start: str, confirmation: str
) -> None:
    await stack.mo(H2, stop)
    box = await stack.wait_inbox(H2, 1)
    assert confirmation in box[0]["text"]
    core = stack.app[MESSAGING_KEY]
    blocked = await core.send(MtRequest(H2, "Promo -20%", "3311", message_class="marketing", brand="ACME"))
    assert blocked.status == "suppressed:opted_out"
    await stack.mo(H2, start)
    await stack.wait_inbox(H2, 2)
    assert await db.fetchval("SELECT count(*) FROM opt_outs") == 0


@pytest.mark.parametrize(("word", "expected"), [("HELP", "STOP"), ("AIDE", "STOP"), ("HULP", "STOP")])
async def test_help_in_three_languages(stack: Stack, word: str, expected: str) -> None:
    await stack.mo(H3, word)
    box = await stack.wait_inbox(H3, 1)
    assert expected in box[0]["text"] and "LOC OFF" in box[0]["text"]


async def test_brand_stop_blocks_only_that_brand(stack: Stack) -> None:
    await stack.mo(H1, "STOP ACME")
    await stack.wait_inbox(H1, 1)
    core = stack.app[MESSAGING_KEY]
    acme = await core.send(MtRequest(H1, "Acme deal", "3311", message_class="marketing", brand="ACME"))
    other = await core.send(MtRequest(H1, "Other deal", "3311", message_class="marketing", brand="OTHER"))
    assert acme.status == "suppressed:opted_out"
    assert other.id is not None


async def test_one_marketing_sms_per_brand_per_day(stack: Stack, db: asyncpg.Connection[Any]) -> None:
    core = stack.app[MESSAGING_KEY]
    first = await core.send(MtRequest(H3, "Deal 1", "3311", message_class="marketing", brand="ACME", language="fr"))
    second = await core.send(MtRequest(H3, "Deal 2", "3311", message_class="marketing", brand="ACME"))
    third = await core.send(MtRequest(H3, "Deal 3", "3311", message_class="marketing", brand="OTHER"))
    assert first.id is not None and third.id is not None
    assert second.status == "suppressed:daily_brand_cap"
    body = await db.fetchval("SELECT body FROM mt_messages WHERE id = $1", first.id)
    assert body == "Deal 1 STOP au 3311"


async def test_marketing_outside_hours_is_deferred_not_dropped(stack: Stack, db: asyncpg.Connection[Any]) -> None:
    core = stack.app[MESSAGING_KEY]
    saturday_night = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)
    core.clock = lambda: saturday_night
    result = await core.send(MtRequest(H2, "Weekend deal", "3311", message_class="marketing", brand="ACME"))
    assert result.status == "deferred"
    row = await db.fetchrow("SELECT status, not_before FROM mt_messages WHERE id = $1", result.id)
    assert row is not None and row["status"] == "deferred"
    assert row["not_before"] == datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # Monday 08:00 in Brussels
    await asyncio.sleep(0.5)
    assert await db.fetchval("SELECT status FROM mt_messages WHERE id = $1", result.id) == "deferred"
    core.clock = lambda: datetime(2026, 11, 30, 7, 0, 1, tzinfo=UTC)
    await wait_status(db, result.id or 0, "delivered")


async def test_throttled_submits_are_retried_never_dropped(stack: Stack, db: asyncpg.Connection[Any]) -> None:
    await stack.sim_mode(mode="throttled", rate=5)
    ids = [await send(stack, MtRequest(H1, f"msg {i}", "3311")) for i in range(12)]
    for mt_id in ids:
        await wait_status(db, mt_id, "delivered", within_s=30)
    box = await stack.wait_inbox(H1, 12)
    assert sorted(m["text"] for m in box) == sorted(f"msg {i}" for i in range(12))


async def test_failed_receipt_marks_the_mt_failed(stack: Stack, db: asyncpg.Connection[Any]) -> None:
    await stack.sim_mode(mode="dlr_fail_ratio", ratio=1.0, stat="UNDELIV")
    mt_id = await send(stack, MtRequest(H2, "will not arrive", "3311"))
    row = await wait_status(db, mt_id, "failed")
    assert row["error"] == "receipt UNDELIV"


async def test_invalid_mt_is_refused_with_a_clear_error(stack: Stack) -> None:
    from lbs.errors import InvalidArgument

    core = stack.app[MESSAGING_KEY]
    for req in (
        MtRequest("not a number", "hi", "3311"),
        MtRequest(H1, "", "3311"),
        MtRequest(H1, "x" * 5000, "3311"),
        MtRequest(H1, "hi", "TOO-LONG-SENDER-ID"),
    ):
        with pytest.raises(InvalidArgument):
            await core.send(req)
