"""Faults of the services the messaging core depends on (issue 19, item 4): PostgreSQL and Redis go away under a
flow of MTs and come back; sending resumes without a restart, and the SMSC's record shows each MT exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from api.demo import smsc_settings_for, start_platform, start_smsc
from api.demo_data import load
from api.keys import MESSAGING_KEY, METRICS_KEY
from lbs.messaging import outbox, sweep
from lbs.messaging.outbox import MtRequest
from lbs.messaging.outcomes import MtRef, Receipt, Submitted
from lbs.messaging.results import Listeners, ResultWriter
from lbs.messaging.supervisor import Supervisor, TaskStatus
from lbs.metrics import Metrics
from lbs.settings import Settings
from tests.conftest import Stack, free_port

H = "+32470000042"
N = 60


async def wait_until(check: Callable[[], Any], within_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.05)


class TcpProxy:
    """A TCP relay we can take down (every connection cut, new ones refused) and bring back on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def down(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
        self._writers.discard(writer)


@contextlib.asynccontextmanager
async def platform(settings: Settings, platform_settings: Settings) -> AsyncIterator[web.Application]:
    stop_smsc = await start_smsc(smsc_settings_for(settings))
    app, stop_platform = await start_platform(platform_settings)
    try:
        yield app
    finally:
        await stop_platform()
        await stop_smsc()


async def smsc_submits(settings: Settings, msisdn: str) -> Counter[str]:
    """How many submit_sm the SMSC received per text for ``msisdn`` (its PDU record)."""
    url = f"http://127.0.0.1:{settings.smsc_control_port}/sim/pdus"
    async with aiohttp.ClientSession() as http, http.get(url, params={"command": "submit_sm"}) as resp:
        records = await resp.json()
    return Counter(r.get("text") or r.get("short_message") for r in records if r.get("destination") == msisdn[1:])


async def send_flow(app: web.Application, prefix: str) -> None:
    for i in range(N):
        await app[MESSAGING_KEY].send(MtRequest(H, f"{prefix} {i}", "3311"))


async def assert_exactly_once(db: asyncpg.Connection[Any], settings: Settings, prefix: str) -> None:
    async def all_delivered() -> bool:
        return bool(await db.fetchval("SELECT count(*) FROM mt_messages WHERE status = 'delivered'") == N)

    rows = "SELECT id, status, attempts, error FROM mt_messages WHERE status <> 'delivered'"
    await wait_until(all_delivered, 40, f"not all delivered: {[dict(r) for r in await db.fetch(rows)]}")
    submits = await smsc_submits(settings, H)
    assert submits == Counter({f"{prefix} {i}": 1 for i in range(N)})


async def health_of(app: web.Application) -> dict[str, int]:
    """Restarts per supervised task, once every task is running again (a restart may still be in its back-off)."""
    core = app[MESSAGING_KEY]

    async def all_running() -> bool:
        return all(s.ok for s in core.tasks().values())

    await wait_until(all_running, 15, f"not all running: {core.tasks()}")
    return {name: s.restarts for name, s in core.tasks().items()}


async def test_postgres_outage_sending_resumes_and_nothing_is_sent_twice(
    settings: Settings, db: asyncpg.Connection[Any], redis_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Claims whose answer the outage cut off stay 'sending': re-queued once PostgreSQL was healthy this long.
    monkeypatch.setattr(sweep, "STUCK_SENDING", timedelta(seconds=5))
    monkeypatch.setattr(sweep, "SWEEP_EVERY_S", 0.5)
    await load(db, settings)
    await db.execute("UPDATE short_codes SET throughput_tps = 20")  # the flow outlasts the start of the outage
    proxy = TcpProxy(urlsplit(settings.database_url).port or 5432)
    await proxy.up()
    url = urlsplit(settings.database_url)
    proxied = urlunsplit(url._replace(netloc=url.netloc.replace(f":{url.port}", f":{proxy.port}")))
    try:
        async with platform(settings, settings.model_copy(update={"database_url": proxied})) as app:
            await send_flow(app, "pg")
            await asyncio.sleep(0.15)  # some are out, some still queued
            await proxy.down()
            await asyncio.sleep(2.0)
            outage = app[MESSAGING_KEY].tasks()
            await proxy.up()
            await assert_exactly_once(db, settings, "pg")
            restarts = await health_of(app)
    finally:
        await proxy.down()
    # The result writer met the outage and was restarted; the dispatcher may meet it at a claim, or wait on its
    # window until results flow again (which loop hits the outage first depends on timing): none of them died.
    assert restarts["mt-results"] >= 1, (restarts, outage)
    assert all(state.status is not TaskStatus.DEAD for state in outage.values()), outage
    metrics = app[METRICS_KEY].registry
    assert metrics.get_sample_value("lbs_mt_submitted_total") == N
    assert metrics.get_sample_value("lbs_task_restarts_total", {"task": "mt-results"}) >= 1


# A real service runs on real time, like the machine's PostgreSQL: a faked clock (libfaketime, used to run the
# suite at any hour) stays with the processes under test and is not preloaded into redis-server.
SERVICE_ENV = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}


def start_redis(port: int) -> subprocess.Popen[bytes]:
    """A redis-server of this test's own, so that it can be stopped and started again."""
    return subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=SERVICE_ENV,
    )


def stop_redis(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)


async def wait_redis(url: str) -> None:
    client = aioredis.Redis.from_url(url)

    async def answers() -> bool:
        try:
            return bool(await client.ping())
        except aioredis.ConnectionError:
            return False

    try:
        await wait_until(answers, 10, "redis-server did not start")
    finally:
        await client.aclose()


async def test_redis_restart_sending_resumes_and_nothing_is_sent_twice(
    settings: Settings, db: asyncpg.Connection[Any]
) -> None:
    await load(db, settings)
    await db.execute("UPDATE short_codes SET throughput_tps = 100")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    first = start_redis(port)
    try:
        await wait_redis(url)
        async with platform(settings, settings.model_copy(update={"redis_url": url})) as app:
            await send_flow(app, "redis")
            await asyncio.sleep(0.15)
            stop_redis(first)  # down for a second, back empty (no persistence): the throttle's keys are gone
            await asyncio.sleep(1.0)
            second = start_redis(port)
            try:
                await wait_redis(url)
                await assert_exactly_once(db, settings, "redis")
                restarts = await health_of(app)
            finally:
                stop_redis(second)
    finally:
        stop_redis(first)
    assert restarts["mt-dispatcher"] >= 1, restarts


async def test_a_failed_result_batch_is_written_again_whole(settings: Settings, db: asyncpg.Connection[Any]) -> None:
    """A listener (or PostgreSQL) fails the first commit: the batch is written again, counted once, none lost."""
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    async with db.transaction():
        done = await outbox.enqueue(db, MtRequest(H, "once", "3311"), now=now, pseudonym_key="k", short_code="3311")
    assert done.id is not None
    [row] = await outbox.claim(db, 1, now)
    calls: list[int] = []

    async def flaky(conn: Any, mt_row: asyncpg.Record) -> None:
        calls.append(mt_row["id"])
        if len(calls) == 1:
            raise ConnectionResetError("PostgreSQL went away mid-batch")

    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    metrics = Metrics()
    writer = ResultWriter(pool, lambda: now, Listeners(submit=[flaky]), metrics=metrics)
    writer.put(Submitted(MtRef(row["id"], row["attempts"]), "smsc-1"))
    writer.put(Receipt("smsc-1", "DELIVRD"))
    supervisor = Supervisor(metrics)
    supervisor.start("mt-results", writer.run)
    try:

        async def delivered() -> bool:
            return bool(await db.fetchval("SELECT status FROM mt_messages WHERE id = $1", done.id) == "delivered")

        await wait_until(delivered, 5, "the batch was not written again")
    finally:
        await supervisor.stop()
        await pool.close()
    assert calls == [done.id, done.id]  # the first run rolled back; the second committed
    assert await db.fetchval("SELECT count(*) FROM mt_receipts WHERE applied_at IS NOT NULL") == 1
    assert metrics.registry.get_sample_value("lbs_mt_submitted_total") == 1
    assert metrics.registry.get_sample_value("lbs_mt_result_batch_retries_total") == 1


async def test_a_late_result_marks_its_own_claim_only(db: asyncpg.Connection[Any]) -> None:
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    async with db.transaction():
        done = await outbox.enqueue(db, MtRequest(H, "late", "3311"), now=now, pseudonym_key="k", short_code="3311")
    [first] = await outbox.claim(db, 1, now)
    await outbox.requeue_stuck(db, timedelta(seconds=60), now + timedelta(seconds=61))
    # The first claim's result lands after the sweep re-queued the row: it was accepted, so it is not sent again.
    assert len(await outbox.record_submitted(db, [(done.id or 0, first["attempts"], "smsc-a")], now)) == 1
    await db.execute("UPDATE mt_messages SET status = 'deferred' WHERE id = $1", done.id)
    [second] = await outbox.claim(db, 1, now + timedelta(seconds=62))
    assert second["attempts"] == first["attempts"] + 1
    # Once claimed again, the older claim's result changes nothing.
    assert await outbox.record_submitted(db, [(done.id or 0, first["attempts"], "smsc-b")], now) == []


async def test_an_mt_the_smsc_lost_expires_with_a_reason(stack: Stack, db: asyncpg.Connection[Any]) -> None:
    """The SMSC restarts without its store while the MT waits for its receipt: it ends 'expired', not stuck."""
    await stack.sim_mode(mode="dlr_delayed", delay_s=60)
    core = stack.app[MESSAGING_KEY]
    heard: list[tuple[int, str]] = []

    async def listener(conn: Any, mt_id: int, stat: str) -> None:
        heard.append((mt_id, stat))

    core.receipt_listeners.append(listener)
    result = await core.send(MtRequest(H, "lost by the SMSC", "3311"))

    async def submitted() -> bool:
        return bool(await db.fetchval("SELECT status FROM mt_messages WHERE id = $1", result.id) == "submitted")

    await wait_until(submitted, 10, "not submitted")
    async with stack.http.post(f"{stack.smsc}/sim/restart", json={"down_s": 0.2, "keep_store": False}) as resp:
        assert resp.status == 200
    assert await core.sweeper.expire() == 0  # within its validity: wait
    settings = stack.settings
    later = datetime.now(UTC) + timedelta(seconds=settings.smpp_validity_s + settings.smpp_receipt_grace_s + 1)
    core.clock = lambda: later
    assert await core.sweeper.expire() == 1
    row = await db.fetchrow("SELECT status, error, done_at FROM mt_messages WHERE id = $1", result.id)
    assert row is not None and (row["status"], row["error"]) == ("expired", "no receipt within validity")
    assert heard == [(result.id, "EXPIRED")]
    assert stack.app[METRICS_KEY].registry.get_sample_value("lbs_mt_expired_total") == 1


async def test_health_names_a_messaging_loop_that_is_not_running(stack: Stack) -> None:
    async def checks() -> dict[str, str]:
        async with stack.http.get(f"{stack.api}/health") as resp:
            return dict((await resp.json())["checks"])

    assert (await checks())["messaging"] == "ok"
    core = stack.app[MESSAGING_KEY]

    async def quits() -> None:
        return None

    core.supervisor.start("probe", quits)
    await wait_until(lambda: _true(not core.tasks()["probe"].ok), 5, "probe not dead")
    assert "probe dead" in (await checks())["messaging"]


async def _true(value: bool) -> bool:
    return value
