"""Geofence workers: position reports from a Redis Stream, through the engine, to promotion triggers.

Several workers (one or more machines) share one consumer group on ``settings.geofence_stream``. Per batch:

1. take entries: first those another worker left pending longer than ``geofence_claim_idle_ms`` (XAUTOCLAIM: that
   worker died mid-batch), else new ones (XREADGROUP);
2. :meth:`Engine.process`: presence in Redis, compare-and-set per subscriber; the transitions are committed to the
   subscriber's outbox in the same script (a replayed report is older than the state and changes nothing); each
   position is billed to the applications it serves (:mod:`geofences.charging`, idempotent);
3. drain the outboxes of the batch's subscribers: each transition goes through the promotion rules in PostgreSQL
   under its idempotency key (:func:`geofences.promotions.handle_transition`), or becomes a CAMARA CloudEvent in the
   delivery outbox (:func:`geofences.camara.handle_transition`), then leaves the subscriber's outbox;
4. XACK. A worker killed anywhere in 1-4 leaves its entries pending; whoever claims them redoes what is missing, and
   nothing fires twice.

Promotion changes (create, edit, pause, delete) reach the index by polling ``promotions.updated_at``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import redis.asyncio as aioredis
import structlog
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from geofences import camara
from geofences.charging import bill_positions
from geofences.config import hysteresis_from, index_from
from geofences.deadletter import DeadLetters, describe
from geofences.engine import Engine
from geofences.presence import PresenceStore, encode_transition
from geofences.promotions import COLUMNS, FROM, add_counters, changed_fences, handle_transition
from geofences.transitions import Report, Transition
from lbs import outbound
from lbs.clock import Clock
from lbs.pseudonym import pseudonym
from lbs.settings import Settings

log = structlog.get_logger(__name__)

SYNC_OVERLAP = timedelta(seconds=5)  # re-read recent changes: a slow transaction may commit an older updated_at
MAX_EPOCH_S = 32_503_680_000.0  # year 3000: beyond, a report time is garbage (and datetime cannot hold it)
BACKOFF_FIRST_S = 0.5  # after a failed step; doubles up to BACKOFF_MAX_S, so an outage is not hammered
BACKOFF_MAX_S = 30.0
DELIVERY_IDLE_S = 0.2  # the delivery task's pause when nothing is due
# Failures that say a store is unreachable, not that the work is bad: the work waits and no try is counted.
OUTAGE: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    RedisConnectionError,
    RedisTimeoutError,
)
Entry = tuple[bytes, dict[bytes, bytes]]


def report_fields(report: Report) -> dict[str, str]:
    """A report as a stream entry: one field ``p`` = ``msisdn|lon|lat|accuracy|at`` (one value to parse, not ten)."""
    return {"p": f"{report.msisdn}|{report.lon!r}|{report.lat!r}|{report.accuracy_m!r}|{report.at!r}"}


def parse_entry(fields: dict[bytes, bytes]) -> Report | None:
    """A stream entry as a report (None when malformed: acknowledged and dropped)."""
    try:
        msisdn, lon, lat, accuracy, at = fields[b"p"].decode().split("|")
        report = Report(msisdn, float(lon), float(lat), float(accuracy), float(at))
    except (KeyError, ValueError, UnicodeDecodeError):
        return None
    sane = -180 <= report.lon <= 180 and -90 <= report.lat <= 90 and 0 <= report.accuracy_m < math.inf
    return report if sane and 0 < report.at < MAX_EPOCH_S else None


async def publish(redis: aioredis.Redis, settings: Settings, reports: Sequence[Report]) -> None:
    """Append position reports to the stream (one round trip)."""
    async with redis.pipeline(transaction=False) as pipe:
        for report in reports:
            pipe.xadd(
                settings.geofence_stream,
                report_fields(report),  # type: ignore[arg-type]
                maxlen=settings.geofence_stream_maxlen,
                approximate=True,
            )
        await pipe.execute()


class GeofenceWorker:
    """One consumer of the position stream."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool[Any],
        redis: aioredis.Redis,
        consumer: str | None = None,
        *,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.redis = redis
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.engine = Engine(index_from(settings), hysteresis_from(settings))
        self.store = PresenceStore(redis, settings.retention_presence_s)
        self.synced_until: datetime | None = None
        self.subs_synced_until: datetime | None = None
        self.versions: dict[int, datetime] = {}
        self.positions: Counter[int] = Counter()
        self.next_sync = 0.0
        self.handled = 0
        self.clock = clock
        self.dead = DeadLetters(redis, settings)

    async def ensure_group(self) -> None:
        """Create the consumer group (and the stream) unless they exist."""
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
            await self.redis.xgroup_create(
                self.settings.geofence_stream, self.settings.geofence_group, "0", mkstream=True
            )

    async def sync(self) -> None:
        """Apply promotion changes to the index (all promotions the first time)."""
        since = self.synced_until - SYNC_OVERLAP if self.synced_until else None
        sub_since = self.subs_synced_until - SYNC_OVERLAP if self.subs_synced_until else None
        changes = await changed_fences(self.pool, since, self.versions)  # overlap re-reads skipped
        subs = await camara.changed_fences(self.pool, sub_since, self.versions)
        if self.synced_until is None and self.subs_synced_until is None:
            self.engine.index.rebuild(changes.upsert + subs.upsert)
        else:
            self.engine.index.apply(changes.upsert + subs.upsert, changes.remove + subs.remove)
        self.versions.update(changes.versions)
        self.versions.update(subs.versions)
        self.synced_until = changes.seen_until or self.synced_until
        self.subs_synced_until = subs.seen_until or self.subs_synced_until
        await camara.expire_due(self.pool, self.clock())
        await self.flush_counters()

    async def flush_counters(self) -> None:
        """Write the positions counted since the last flush (kept in memory between syncs: cheap per report)."""
        counts, self.positions = self.positions, Counter()
        await add_counters(self.pool, {(fence_id, "positions"): n for fence_id, n in counts.items()})

    async def take(self, block_ms: int | None = None) -> tuple[list[Entry], bool]:
        """Entries abandoned by a dead worker first (True), else new ones (False)."""
        s = self.settings
        claimed: Any = await self.redis.xautoclaim(
            s.geofence_stream, s.geofence_group, self.consumer, s.geofence_claim_idle_ms, "0-0", count=s.geofence_batch
        )
        if claimed[1]:
            return [(e[0], e[1]) for e in claimed[1] if e[1] is not None], True
        answer: Any = await self.redis.xreadgroup(
            s.geofence_group,
            self.consumer,
            {s.geofence_stream: ">"},
            count=s.geofence_batch,
            block=s.geofence_block_ms if block_ms is None else block_ms,
        )
        return ([(e[0], e[1]) for _, entries in answer for e in entries] if answer else []), False

    async def handle(self, entries: list[Entry], claimed: bool = False) -> list[Transition]:
        """Steps 2-4 of the module docstring for one batch; returns the transitions handled.

        Claimed entries (a dead worker's) may have left transitions in outboxes: then every subscriber of the batch
        is drained; otherwise only those with new transitions. An outage propagates (the entries wait); any other
        failure of the batch is retried entry by entry, and an entry that fails alone counts a try towards
        :mod:`geofences.deadletter`.
        """
        try:
            return await self._handle(entries, claimed)
        except OUTAGE:
            raise
        except Exception as exc:
            if len(entries) == 1:
                await self._entry_failed(entries[0], exc)
                return []
            log.warning("geofence batch failed; entries one by one", entries=len(entries), error=describe(exc))
            out: list[Transition] = []
            for entry in entries:
                out += await self.handle([entry], claimed=True)
            return out

    async def _handle(self, entries: list[Entry], claimed: bool) -> list[Transition]:
        parsed = [(e[0], parse_entry(e[1])) for e in entries]
        reports = [r for _, r in parsed if r is not None]
        transitions = await self.engine.process(self.store, reports, self.positions)
        if self.settings.geofence_bill_positions:
            await bill_positions(self.pool, reports, self.clock())
        subscribers = {r.msisdn for r in reports} if claimed else {t.msisdn for t in transitions}
        handled, stuck = await self._drain(sorted(subscribers))
        # a subscriber with a failing transition keeps its entries pending: they come back (claimed) to retry it
        done = [entry_id for entry_id, r in parsed if r is None or r.msisdn not in stuck]
        if done:
            await self.redis.xack(self.settings.geofence_stream, self.settings.geofence_group, *done)
        if len(done) == len(entries) and claimed:
            await self.dead.forget(*[_text(e[0]) for e in entries])
        return handled

    async def drain(self, msisdns: Sequence[str]) -> list[Transition]:
        """Act on the subscribers' committed transitions, then clear them."""
        return (await self._drain(msisdns))[0]

    async def _drain(self, msisdns: Sequence[str]) -> tuple[list[Transition], set[str]]:
        out: list[Transition] = []
        stuck: set[str] = set()
        for msisdn, transitions in (await self.store.pending(msisdns)).items():
            done = 0
            for transition in transitions:  # in order: a failing one holds back the subscriber's later ones
                if not await self._act(transition):
                    stuck.add(msisdn)
                    break
                done += 1
            if done:
                await self.store.done(msisdn, done)
            out += transitions[:done]
        self.handled += len(out)
        return out, stuck

    async def _act(self, transition: Transition) -> bool:
        """Trigger one transition; False when it failed and should be retried later (an outage propagates)."""
        try:
            await self._trigger(transition)
        except OUTAGE:
            raise
        except Exception as exc:
            subject = pseudonym(self.settings.pseudonym_key, transition.msisdn)
            ref = transition_ref(transition, subject)
            tries = await self.dead.failed(ref)
            if tries < self.settings.geofence_poison_tries:
                log.warning(
                    "transition failed; retried later", ref=ref, subject=subject, tries=tries, error=describe(exc)
                )
                return False
            await self.dead.bury(
                "transition", ref, subject, encode_transition(transition), describe(exc), tries, self.clock()
            )
            log.error("transition dead-lettered", ref=ref, subject=subject, tries=tries, error=describe(exc))
        return True

    async def _entry_failed(self, entry: Entry, exc: Exception) -> None:
        """One entry failed on its own: count a try; at the limit, dead-letter and acknowledge it."""
        entry_id = _text(entry[0])
        tries = await self.dead.failed(entry_id)
        report = parse_entry(entry[1])
        subject = pseudonym(self.settings.pseudonym_key, report.msisdn) if report is not None else ""
        if tries < self.settings.geofence_poison_tries:
            log.warning("stream entry failed; retried later", entry=entry_id, tries=tries, error=describe(exc))
            return
        payload = _text(entry[1].get(b"p", b""))
        await self.dead.bury("entry", entry_id, subject, payload, describe(exc), tries, self.clock())
        await self.redis.xack(self.settings.geofence_stream, self.settings.geofence_group, entry[0])
        log.error("stream entry dead-lettered", entry=entry_id, subject=subject, tries=tries, error=describe(exc))

    async def _trigger(self, transition: Transition) -> None:
        async with self.pool.acquire() as conn:
            if transition.fence_id >= camara.SUBSCRIPTION_FENCE_BASE:
                await camara.handle_transition(conn, self.settings, transition, self.clock())
                return
            row = await conn.fetchrow(f"SELECT {COLUMNS} {FROM} WHERE p.id = $1", transition.fence_id)
            if row is not None:
                await handle_transition(conn, self.settings, row, transition, self.clock())

    async def run_once(self, block_ms: int | None = None) -> int:
        """Sync if due, take one batch and handle it; the number of entries taken."""
        loop = asyncio.get_running_loop()
        if loop.time() >= self.next_sync:
            await self.sync()
            self.next_sync = loop.time() + self.settings.geofence_sync_s
        entries, claimed = await self.take(block_ms)
        if entries:
            await self.handle(entries, claimed)
        return len(entries)

    async def deliver(self, session: aiohttp.ClientSession) -> int:
        """POST due CAMARA CloudEvents (the delivery outbox) through an :func:`lbs.outbound.session`."""
        return await camara.deliver_due(self.pool, session, self.settings, self.clock())

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: batches of positions; CloudEvent deliveries in a task of their own (a slow sink
        never holds up the positions)."""
        await self.ensure_group()
        async with outbound.session(self.settings) as session:
            deliveries = asyncio.create_task(self._deliveries(stop, session), name="cloudevent-deliveries")
            try:
                await self._loop(stop)
            finally:
                deliveries.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await deliveries

    async def _loop(self, stop: asyncio.Event) -> None:
        try:
            await _supervised(stop, "positions", self.run_once, self._recover)
        finally:
            with contextlib.suppress(*OUTAGE):
                await self.flush_counters()

    async def _recover(self, exc: Exception) -> None:
        if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):  # the stream or group was deleted
            await self.ensure_group()

    async def _deliveries(self, stop: asyncio.Event, session: aiohttp.ClientSession) -> None:
        async def once() -> int:
            attempted = await self.deliver(session)
            if not attempted:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), DELIVERY_IDLE_S)
            return attempted

        await _supervised(stop, "deliveries", once)


async def _supervised(
    stop: asyncio.Event,
    name: str,
    step: Callable[[], Awaitable[int]],
    recover: Callable[[Exception], Awaitable[None]] | None = None,
) -> None:
    """Run ``step`` until ``stop``: any failure is logged and retried with backoff; the loop itself never dies."""
    backoff = BACKOFF_FIRST_S
    while not stop.is_set():
        try:
            await step()
            backoff = BACKOFF_FIRST_S
        except OUTAGE as exc:
            log.warning("geofence worker: a store is unreachable; work waits", loop=name, error=describe(exc))
        except Exception as exc:
            log.exception("geofence worker step failed; work stays pending", loop=name, error=describe(exc))
            if recover is not None:
                with contextlib.suppress(Exception):
                    await recover(exc)
        else:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), backoff)
        backoff = min(backoff * 2, BACKOFF_MAX_S)


def transition_ref(transition: Transition, subject: str) -> str:
    """A transition's key for try counts and dead letters (the subscriber as its pseudonym)."""
    return f"t:{transition.fence_id}:{transition.detect.value}:{transition.at!r}:{subject}"


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
