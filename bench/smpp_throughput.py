"""Bench (issue 5): SMPP throughput over one bind, the durable MT pipeline, throttle accuracy, MO->MT latency.

Everything runs on free ports: the SMSC emulator in a child process (this script with ``--serve-smsc``; receipt
and handset delivery delay 0 s so latencies are the stack's, not the emulated network's), a scratch PostgreSQL
database migrated to head and dropped at the end, and Redis db 14 (flushed before and after).

1. ``smpp_submit_per_s`` / ``smpp_false_timeouts``: N submit_sm (DLRs on) over one transceiver bind with our
   plumbing (``WindowedBroker`` + ``FastCorrelator``); ``smpp_stock_submit_per_s`` /
   ``smpp_stock_false_timeouts``: the same N through a stock ``ESME`` (SimpleBroker, SimpleCorrelator, no
   limiter). A false timeout is a ``send_error(TimeoutError)`` for a submit_sm that did get its submit_sm_resp.
2. ``pipeline_mt_per_s``: N rows inserted into the outbox (one bulk INSERT, status ``queued``), dispatched by an
   in-process ``MessagingCore`` to the emulator until every row is ``delivered`` by its receipt.
3. ``throttle_error_pct_{10,50,150}``: two ``lbs worker messaging`` processes share one short code at tier T
   (a short code per tier: the dispatcher caches a tier for a minute); the submit rate
   is measured from the emulator's PDU log timestamps.
4. ``mo_mt_p50_ms`` / ``mo_mt_p99_ms``: PING at a steady 200 MO/s (``POST /sim/mo``, one MO per handset) to the
   two workers, alternating short codes 3311 and 3312 at tier 150 (one code at 150/s cannot carry 200 replies/s);
   from the MO's creation in the emulator to the PONG in the handset's inbox (both emulator timestamps).

Each group is preceded by a ``#`` line saying what was measured, under which limits, and what was seen.

    .venv/bin/python bench/smpp_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import redis.asyncio as aioredis
from aiosmpplib import ESME, NPI, TON, AbstractHook, DeliverSm, GenericNack, PhoneNumber, SubmitSm, SubmitSmResp
from aiosmpplib.state import SmppCommandStatus

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import Smsc, admin, free_port, ms_between, percentile, process_cpu_s, wait_until, with_database

from lbs import migrate
from lbs.clock import system_clock
from lbs.db import create_pool
from lbs.messaging.core import MessagingCore
from lbs.messaging.smpp import FastCorrelator, WindowedBroker, stop_esme
from lbs.settings import Settings
from les_simulator.settings import SmscSettings

REDIS_DB = 14  # flushed before and after: never the application's db 0 nor the tests' 15
SYSTEM_ID, PASSWORD = "demo", "demo"
# The raw runs bind with accounts of their own: receipts the stock ESME never read stay queued for its account
# in the emulator and must not reach the platform's binds later. Their sender, 3399, belongs to no account.
RAW_ACCOUNTS = {"rawours": "rawours", "rawstock": "rawstck"}
RAW_SOURCE = "3399"
SHORT_CODE, SECOND_SHORT_CODE = "3311", "3312"
TIERS = (10, 50, 150)
TIER_CODES = {10: "36010", 50: "36050", 150: "36150"}  # a short code per tier: tiers are cached a minute
PIPELINE_SOURCE = "BENCH"  # an alphanumeric OADC has no short_codes row: limited by default_tps only
PIPELINE_TPS = 1_000_000
WINDOW = 100  # Settings.smpp_window's default: the platform's window per bind
HANDSETS = 1_000
MO_RATE = 200.0
MO_TIER = 150
OK = SmppCommandStatus.ESME_ROK


@dataclass(frozen=True)
class Sizes:
    raw_n: int
    pipeline_n: int
    throttle_warmup_s: float
    throttle_s: float
    mo_warmup_s: float
    mo_s: float


QUICK = Sizes(raw_n=2_500, pipeline_n=2_000, throttle_warmup_s=1.0, throttle_s=4.0, mo_warmup_s=0.5, mo_s=4.0)
FULL = Sizes(raw_n=20_000, pipeline_n=20_000, throttle_warmup_s=2.0, throttle_s=60.0, mo_warmup_s=2.0, mo_s=30.0)


def out(line: str) -> None:
    print(line, flush=True)


def handset(i: int, base: int = 32472000000) -> str:
    return f"+{base + i}"


# --- the SMSC emulator (child process) ----------------------------------------------------------------------------


def emulator_settings(port: int, control_port: int) -> SmscSettings:
    return SmscSettings(
        smsc_host="127.0.0.1",
        smsc_port=port,
        smsc_control_port=control_port,
        smsc_dlr_delay_s=0.0,
        smsc_accounts={SYSTEM_ID: PASSWORD, **RAW_ACCOUNTS},
        smsc_routes={SHORT_CODE: SYSTEM_ID, SECOND_SHORT_CODE: SYSTEM_ID},
    )


def serve_smsc(port: int, control_port: int) -> None:
    """Child process: the emulator and its control API until terminated."""
    from api.demo import serve_forever, start_smsc

    async def main() -> None:
        stop = await start_smsc(emulator_settings(port, control_port))
        try:
            await serve_forever()
        finally:
            await stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


# --- 1. raw SMPP over one bind ------------------------------------------------------------------------------------


@dataclass
class Counts:
    """What one ESME saw: responses and timeouts by sequence number, receipts."""

    expected: int
    resp_seqs: set[int] = field(default_factory=set)
    resp_log_ids: set[str] = field(default_factory=set)
    timeout_seqs: set[int] = field(default_factory=set)
    refused: int = 0
    receipts: int = 0
    last_resp: float = 0.0
    all_answered: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def false_timeouts(self) -> int:
        return len(self.timeout_seqs & self.resp_seqs)


class CountingHook(AbstractHook):  # type: ignore[misc]  # aiosmpplib ships no type information
    """Counts submit_sm_resp (by log_id and sequence number), timeouts and receipts; frees window slots."""

    def __init__(self, counts: Counts, broker: WindowedBroker | None) -> None:
        self.counts = counts
        self.broker = broker

    async def sending(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
        return None

    async def received(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
        c = self.counts
        if isinstance(smpp_message, SubmitSmResp | GenericNack):
            if self.broker is not None:
                self.broker.release(smpp_message.log_id)
            c.resp_seqs.add(smpp_message.sequence_num)
            if smpp_message.log_id:  # empty when the correlator had already expired the request
                c.resp_log_ids.add(smpp_message.log_id)
            c.refused += smpp_message.command_status != OK
            c.last_resp = time.perf_counter()
            if len(c.resp_seqs) >= c.expected:
                c.all_answered.set()
        elif isinstance(smpp_message, DeliverSm) and smpp_message.is_receipt():
            c.receipts += 1

    async def send_error(self, smpp_message: Any, error: Exception, client_id: str) -> None:
        if self.broker is not None:
            self.broker.release(getattr(smpp_message, "log_id", ""))
        if isinstance(error, TimeoutError):
            self.counts.timeout_seqs.add(smpp_message.sequence_num)


def bench_submit(i: int) -> SubmitSm:
    return SubmitSm(
        short_message=f"Bench MT {i}",
        source=PhoneNumber(RAW_SOURCE, TON.NETWORK_SPECIFIC, NPI.UNKNOWN),
        destination=PhoneNumber(handset(i % HANDSETS).lstrip("+"), TON.INTERNATIONAL, NPI.ISDN),
        log_id=f"b:{i}",
    )


@dataclass(frozen=True)
class RawResult:
    rate: float
    answered: int
    by_log_id: int
    false_timeouts: int
    timeouts: int
    refused: int
    receipts: int
    cpu_us: float  # this process's CPU time per answered submit_sm (ESME side: submit, resp, receipt)


async def raw_run(port: int, n: int, *, ours: bool) -> RawResult:
    """N submit_sm over one bind; rate = answered / (last submit_sm_resp - first enqueue)."""
    counts = Counts(n)
    broker = WindowedBroker(WINDOW) if ours else None
    extra: dict[str, Any] = {"broker": broker, "correlator": FastCorrelator("bench-ours")} if ours else {}
    system_id = "rawours" if ours else "rawstock"
    esme = ESME(
        "127.0.0.1",
        port,
        system_id,
        RAW_ACCOUNTS[system_id],
        client_id=system_id,
        enquire_link_interval=30.0,
        log_level=logging.CRITICAL,  # the stock run logs thousands of "Could not correlate SMPP response"
        hook=CountingHook(counts, broker),
        **extra,
    )
    await esme.connect()
    runner = asyncio.create_task(esme.start())
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        for i in range(n):
            await esme.broker.enqueue(bench_submit(i))  # the stock SimpleBroker blocks at 2,500 queued
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(120.0, n / 50)):
                await counts.all_answered.wait()
        rate = len(counts.resp_seqs) / max(1e-9, counts.last_resp - started)
        cpu_us = (time.process_time() - cpu_started) / max(1, len(counts.resp_seqs)) * 1e6
        with contextlib.suppress(TimeoutError):  # receipts, for the comment line
            async with asyncio.timeout(10.0):
                while counts.receipts < len(counts.resp_seqs) - counts.refused:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
    finally:
        await stop_esme(esme)  # the platform's own workaround: ESME.stop() waits seconds
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    return RawResult(
        rate,
        len(counts.resp_seqs),
        len(counts.resp_log_ids),
        counts.false_timeouts,
        len(counts.timeout_seqs),
        counts.refused,
        counts.receipts,
        cpu_us,
    )


async def raw_smpp(smsc: Smsc, port: int, n: int, smsc_pid: int) -> float:
    """Ours, then stock; prints the group and returns the stock rate (the pipeline's baseline)."""
    cpu_before = process_cpu_s(smsc_pid)
    ours = await raw_run(port, n, ours=True)
    smsc_us = (process_cpu_s(smsc_pid) - cpu_before) / n * 1e6
    await smsc.reset()
    stock = await raw_run(port, n, ours=False)
    await smsc.reset()
    out(
        f"# raw SMPP, one transceiver bind to the emulator (separate process), {n} submit_sm with DLRs, no rate"
        f" limiter. ours: WindowedBroker(window {WINDOW}) + FastCorrelator; answered {ours.answered}/{n}"
        f" ({ours.by_log_id} correlated to their log_id), refused {ours.refused}, receipts {ours.receipts},"
        f" timeouts {ours.timeouts}, ESME CPU {ours.cpu_us:.0f} us/msg, emulator CPU {smsc_us:.0f} us/msg"
        f" (submit, resp, receipt). stock ESME (SimpleBroker,"
        f" SimpleCorrelator): answered {stock.answered}/{n} ({stock.by_log_id} correlated), refused"
        f" {stock.refused}, receipts {stock.receipts}, timeouts {stock.timeouts}, ESME CPU {stock.cpu_us:.0f}"
        f" us/msg (CPU of this process until the last response, receipts read meanwhile included)"
    )
    out(f"smpp_submit_per_s: {ours.rate:.0f} msg/s")
    out(f"smpp_stock_submit_per_s: {stock.rate:.0f} msg/s")
    out(f"smpp_false_timeouts: {ours.false_timeouts} count")
    out(f"smpp_stock_false_timeouts: {stock.false_timeouts} count")
    return stock.rate


# --- database ------------------------------------------------------------------------------------------------------


async def seed(url: str) -> None:
    """The demo account's short codes: 3311 and 3312 at the MO tier, one short code per throttle tier."""
    conn = await asyncpg.connect(url)
    try:
        rows = [(SHORT_CODE, MO_TIER), (SECOND_SHORT_CODE, MO_TIER)] + [(TIER_CODES[t], t) for t in TIERS]
        await conn.executemany(
            "INSERT INTO short_codes (code, system_id, throughput_tps) VALUES ($1, $2, $3)",
            [(code, SYSTEM_ID, tps) for code, tps in rows],
        )
    finally:
        await conn.close()


INSERT_MTS = (
    "INSERT INTO mt_messages (msisdn, source, body, encoding, segments, message_class, status, not_before)"
    " SELECT '+' || ($3::bigint + i % $4::int)::text, $1, 'Bench MT ' || i, 'gsm0338', 1, 'transactional',"
    " 'queued', now() FROM generate_series(1, $2::int) AS i"
)


async def insert_mts(pool: asyncpg.Pool[Any], source: str, n: int) -> None:
    """N transactional MTs from ``source``, due now, to HANDSETS handsets, in one statement."""
    await pool.execute(INSERT_MTS, source, n, 32472000000, HANDSETS)


# --- 2. the durable pipeline ------------------------------------------------------------------------------------


async def pipeline(settings: Settings, n: int, stock_rate: float) -> None:
    """Outbox -> MessagingCore -> SMSC -> receipt -> 'delivered', in this process."""

    async def no_mo(_: Any) -> None:
        return None

    pool = await create_pool(settings)
    redis = aioredis.Redis.from_url(settings.redis_url)
    core = MessagingCore(settings, pool, redis, no_mo, clock=system_clock)
    try:
        await core.start()
        await core.wait_bound()
        started = datetime.now(UTC)
        await insert_mts(pool, PIPELINE_SOURCE, n)
        core.wake()  # the rows came in by SQL, not through enqueue(): wake the dispatcher now

        async def all_final() -> bool:
            final = await pool.fetchval(
                "SELECT count(*) FROM mt_messages WHERE source = $1 AND status IN ('delivered', 'failed', 'expired')",
                PIPELINE_SOURCE,
            )
            return bool(final >= n)

        done = await wait_until(all_final, max(120.0, n / 50), every_s=0.1)
        stats = await pool.fetchrow(
            "SELECT count(*) FILTER (WHERE status = 'delivered') AS delivered, max(done_at) AS last_done,"
            " max(submitted_at) AS last_submitted, count(*) FILTER (WHERE status = 'delivered' AND"
            " smsc_message_id IS NULL) AS no_smsc_id FROM mt_messages WHERE source = $1",
            PIPELINE_SOURCE,
        )
    finally:
        await core.stop()
        await redis.aclose()
        await pool.close()
    elapsed = (stats["last_done"] - started).total_seconds()
    submit_s = (stats["last_submitted"] - started).total_seconds()
    out(
        f"# durable pipeline: {n} MTs bulk-inserted into the outbox ('queued'), one MessagingCore (window"
        f" {settings.smpp_window}, pool {settings.db_pool_max}) -> SMSC -> receipt; source {PIPELINE_SOURCE!r} has"
        f" no short_codes row, so the Redis GCRA is called per MT at default_tps={PIPELINE_TPS:,} (never waits);"
        f" delivered {stats['delivered']}/{n}{'' if done else ' (TIMED OUT)'}; all submitted after"
        f" {submit_s:.2f} s, all delivered after {elapsed:.2f} s ({stats['no_smsc_id']} delivered rows lack"
        f" smsc_message_id/submitted_at: receipt applied before the batched submit result); no billing listeners;"
        f" stock raw SMPP baseline {stock_rate:.0f} msg/s"
    )
    out(f"pipeline_mt_per_s: {stats['delivered'] / elapsed:.0f} msg/s")


# --- 3 and 4: two worker processes --------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def workers(settings: Settings, smsc: Smsc, log: Path, count: int = 2) -> AsyncIterator[None]:
    """``count`` ``lbs worker messaging`` processes bound to the emulator; their stderr goes to ``log``."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "LBS_SMSC_HOST": "127.0.0.1",
        "LBS_SMSC_PORT": str(settings.smsc_port),
        "LBS_SHORT_CODE": SHORT_CODE,
        "LBS_SMPP_SYSTEM_ID": SYSTEM_ID,
        "LBS_SMPP_PASSWORD": PASSWORD,
    }
    stderr = log.open("ab")  # closed in the finally below, once the processes ended
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "api.cli",
            "worker",
            "messaging",
            env={**env, "LBS_API_PORT": str(free_port()), "LBS_LES_PORT": str(free_port())},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        for _ in range(count)
    ]
    try:

        async def bound() -> bool:
            binds = (await smsc.health())["binds"]
            return sum(b["system_id"] == SYSTEM_ID for b in binds) >= count

        if not await wait_until(bound, 30.0, every_s=0.1):
            raise RuntimeError("the messaging workers did not bind")
        yield
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                async with asyncio.timeout(10.0):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        stderr.close()


def window_rate(times: list[datetime], start: datetime, seconds: float) -> tuple[float, int]:
    """Submit rate inside [start, start + seconds]: (n - 1) over the span from the first to the last submit."""
    inside = [t for t in times if 0 <= (t - start).total_seconds() <= seconds]
    if len(inside) < 2:
        return 0.0, len(inside)
    return (len(inside) - 1) / (inside[-1] - inside[0]).total_seconds(), len(inside)


async def throttle_tier(pool: asyncpg.Pool[Any], smsc: Smsc, tier: int, sizes: Sizes) -> tuple[float, int, float]:
    """Enough MTs to keep both workers busy past the window; measure the SMSC-side rate inside it."""
    code = TIER_CODES[tier]
    await smsc.reset()
    await insert_mts(pool, code, round(tier * (sizes.throttle_warmup_s + sizes.throttle_s + 1.0)))

    async def drained() -> bool:
        left = await pool.fetchval(
            "SELECT count(*) FROM mt_messages WHERE source = $1 AND status IN ('queued', 'deferred', 'sending')",
            code,
        )
        return bool(left == 0)

    await wait_until(drained, sizes.throttle_warmup_s + sizes.throttle_s + 30.0, every_s=0.2)
    times = await smsc.submit_times(code)
    if not times:
        raise RuntimeError(f"no submit_sm from {code} reached the SMSC")
    window_start = times[0].timestamp() + sizes.throttle_warmup_s
    rate, inside = window_rate(times, datetime.fromtimestamp(window_start, UTC), sizes.throttle_s)
    covered = (times[-1].timestamp() - window_start) / sizes.throttle_s
    return rate, inside, covered


async def throttle(settings: Settings, smsc: Smsc, sizes: Sizes) -> None:
    pool = await create_pool(settings)
    try:
        results = {tier: await throttle_tier(pool, smsc, tier, sizes) for tier in TIERS}
    finally:
        await pool.close()
    detail = "; ".join(
        f"{t}/s: {rate:.3f}/s over {n} submits{'' if covered >= 1 else f' (queue ran dry at {covered:.0%})'}"
        for t, (rate, n, covered) in results.items()
    )
    out(
        f"# throttle: two 'lbs worker messaging' processes share one short code per tier (Redis GCRA, burst 1);"
        f" rate = (n-1)/span of the emulator's submit_sm timestamps over {sizes.throttle_s:.0f} s after a"
        f" {sizes.throttle_warmup_s:.0f} s warm-up; {detail}"
    )
    for tier, (rate, _, _) in results.items():
        out(f"throttle_error_pct_{tier}: {abs(rate - tier) / tier * 100:.2f} %")


async def send_mos(smsc: Smsc, first: int, count: int) -> list[tuple[str, dict[str, Any] | BaseException]]:
    """PING from ``count`` distinct handsets at a steady MO_RATE, alternating the two short codes."""
    loop = asyncio.get_running_loop()
    tasks: list[tuple[str, asyncio.Task[dict[str, Any]]]] = []
    began = loop.time()
    for i in range(count):
        delay = began + i / MO_RATE - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        msisdn = handset(first + i, base=32473000000)
        to = SHORT_CODE if i % 2 == 0 else SECOND_SHORT_CODE
        tasks.append((msisdn, asyncio.create_task(smsc.mo(msisdn, to, "PING"))))
    results = await asyncio.gather(*(t for _, t in tasks), return_exceptions=True)
    return [(msisdn, r) for (msisdn, _), r in zip(tasks, results, strict=True)]


@dataclass
class MoTimes:
    """Milliseconds from each MO's creation in the emulator to: its deliver_sm_resp, the reply's submit_sm at
    the SMSC, the reply in the handset's inbox (all emulator timestamps)."""

    acked: list[float] = field(default_factory=list)
    acked_at: list[datetime] = field(default_factory=list)
    created_at: list[datetime] = field(default_factory=list)
    submitted: list[float] = field(default_factory=list)
    replied: list[float] = field(default_factory=list)


async def reply_latencies(smsc: Smsc, sent: list[tuple[str, dict[str, Any] | BaseException]]) -> MoTimes:
    """Wait (at most 60 s) for each handset's PONG; then read when its MO was acked and its reply submitted."""
    pending = {msisdn: r for msisdn, r in sent if isinstance(r, dict)}
    times = MoTimes()
    answered: list[tuple[str, dict[str, Any]]] = []
    deadline = time.monotonic() + 60.0 + 2 * len(sent) / MO_RATE
    sem = asyncio.Semaphore(20)

    async def check(msisdn: str, mo: dict[str, Any]) -> None:
        async with sem:
            box = await smsc.inbox(msisdn)
        pong = [m for m in box if m["text"] == "PONG"]
        if pong:
            times.replied.append(ms_between(mo["created_at"], pong[0]["received_at"]))
            answered.append((msisdn, mo))
            del pending[msisdn]

    while pending and time.monotonic() < deadline:
        await asyncio.gather(*(check(m, mo) for m, mo in list(pending.items())))
        if pending:
            await asyncio.sleep(0.2)
    submits = await smsc.submits_by_destination()

    async def breakdown(msisdn: str, mo: dict[str, Any]) -> None:
        async with sem:
            record = await smsc.mo_record(mo["id"])
        times.created_at.append(datetime.fromisoformat(mo["created_at"]))
        if record.get("delivered_at"):
            times.acked.append(ms_between(mo["created_at"], record["delivered_at"]))
            times.acked_at.append(datetime.fromisoformat(record["delivered_at"]))
        if msisdn.lstrip("+") in submits:
            times.submitted.append(ms_between(mo["created_at"], submits[msisdn.lstrip("+")]))

    await asyncio.gather(*(breakdown(m, mo) for m, mo in answered))
    return times


async def mo_mt(smsc: Smsc, sizes: Sizes) -> None:
    await smsc.reset()
    warm = round(MO_RATE * sizes.mo_warmup_s)
    await reply_latencies(smsc, await send_mos(smsc, 0, warm))
    await smsc.reset()
    count = round(MO_RATE * sizes.mo_s)
    sent = await send_mos(smsc, warm, count)
    refused = sum(isinstance(r, BaseException) for _, r in sent)
    t = await reply_latencies(smsc, sent)
    intake = len(t.acked_at) / (max(t.acked_at) - min(t.created_at)).total_seconds() if t.acked_at else 0.0
    split = ", ".join(
        f"{name} p50 {percentile(v, 50):.1f} / p99 {percentile(v, 99):.1f} ms"
        for name, v in (("MO acked", t.acked), ("reply submit_sm at SMSC", t.submitted))
    )
    out(
        f"# MO->MT: PING -> PONG, {count} MOs at {MO_RATE:.0f} MO/s for {sizes.mo_s:.0f} s (after {warm} warm-up"
        f" MOs), {count} distinct handsets, alternating short codes {SHORT_CODE} and {SECOND_SHORT_CODE}"
        f" (tier {MO_TIER}/s each: one code at 150/s cannot carry 200 replies/s); two worker processes; MO"
        f" created in the emulator -> PONG in the handset inbox, emulator delivery delay 0 s; replies"
        f" {len(t.replied)}/{count}, MOs refused {refused}, max {max(t.replied, default=float('nan')):.1f} ms;"
        f" from MO creation: {split}; MOs acked by the workers at {intake:.0f}/s overall"
    )
    out(f"mo_mt_p50_ms: {percentile(t.replied, 50):.1f} ms")
    out(f"mo_mt_p99_ms: {percentile(t.replied, 99):.1f} ms")


def read_log(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


async def worker_findings(settings: Settings, smsc: Smsc, log: Path) -> None:
    """What the two workers left: receipts the other bind got, MTs whose receipt never settled them."""
    conn = await asyncpg.connect(settings.database_url)
    try:

        async def quiet() -> bool:  # nothing left to send either way
            busy = await conn.fetchval(
                "SELECT count(*) FROM mt_messages WHERE status IN ('queued', 'deferred', 'sending')"
            )
            return busy == 0 and not (await smsc.health())["outbound_waiting"].get(SYSTEM_ID)

        await wait_until(quiet, 60.0, every_s=0.2)
        await asyncio.sleep(1.0)
        rows = await conn.fetch(
            "SELECT status, count(*) AS n FROM mt_messages WHERE source <> $1 GROUP BY 1 ORDER BY 1",
            PIPELINE_SOURCE,
        )
    finally:
        await conn.close()
    text = await asyncio.to_thread(read_log, log)
    statuses = ", ".join(f"{r['status']} {r['n']}" for r in rows)
    out(
        f"# two workers, once the SMSC had nothing left to send: MTs by status {statuses} ('submitted' = its"
        f" DELIVRD receipt was acknowledged but never applied); {text.count('Could not correlate delivery receipt')}"
        f" receipts reached the bind that had not submitted the MT; worker log {log}"
    )


# --- orchestration ------------------------------------------------------------------------------------------------


async def run(settings: Settings, control_port: int, sizes: Sizes, smsc_pid: int) -> None:
    redis = aioredis.Redis.from_url(settings.redis_url)
    await redis.flushdb()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        smsc = Smsc(http, control_port)
        await smsc.wait_up()
        stock_rate = await raw_smpp(smsc, settings.smsc_port, sizes.raw_n, smsc_pid)
        await pipeline(settings, sizes.pipeline_n, stock_rate)
        await smsc.reset()
        log = Path(tempfile.gettempdir()) / f"smpp_bench_workers_{os.getpid()}.log"
        async with workers(settings, smsc, log):
            await throttle(settings, smsc, sizes)
            await mo_mt(smsc, sizes)
            await worker_findings(settings, smsc, log)
    await redis.flushdb()
    await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and windows: under 60 s")
    parser.add_argument("--serve-smsc", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_smsc:
        serve_smsc(*args.serve_smsc)
        return
    sizes = QUICK if args.quick else FULL
    base = Settings()
    name = f"lbs_bench_smpp_{os.getpid()}_{secrets.token_hex(3)}"
    url = with_database(base.database_url, name)
    port, control_port = free_port(), free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve-smsc", str(port), str(control_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    asyncio.run(admin(base.database_url, f'CREATE DATABASE "{name}"'))
    try:
        migrate.upgrade(url)
        asyncio.run(seed(url))
        redis_url = urlunsplit(urlsplit(base.redis_url)._replace(path=f"/{REDIS_DB}"))
        settings = Settings(
            database_url=url,
            redis_url=redis_url,
            smsc_host="127.0.0.1",
            smsc_port=port,
            smpp_system_id=SYSTEM_ID,
            smpp_password=PASSWORD,
            default_tps=PIPELINE_TPS,
        )
        asyncio.run(run(settings, control_port, sizes, child.pid))
    finally:
        child.terminate()
        child.wait(10)
        asyncio.run(admin(base.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
