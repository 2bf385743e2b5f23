"""The composition root: every service of the platform, built once from the settings and one clock.

Each process runs some *roles* on top of it (``docs/architecture.md``):

- ``api``: what the HTTP handlers need (pool, Redis, the MLP client, consent, location), and the MLP push
  listener that feeds the geofence position stream;
- ``messaging``: the SMPP bind, MO handling through the keyword router, MT dispatch and receipts;
- ``geofence``: one consumer of the position stream (fences, transitions, triggers, CloudEvent deliveries);
- ``scheduler``: the periodic jobs (:mod:`api.scheduler`), each owned by this role alone.

Every external resource opens in its own async context, in order, and closes in reverse; nothing here does I/O
before :meth:`Root.open` (or the app's ``cleanup_ctx``, :mod:`api.app`) opens it. The entry points (the HTTP app,
``lbs serve``, ``lbs worker ...``, ``lbs demo``) are thin layers that pick roles and run them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, Final, TypeVar

import aiohttp
import asyncpg
import redis.asyncio as aioredis
import structlog

from api import scheduler
from api.push import serve_push
from geofences import promotions as promotion_hooks
from geofences.reporting import ReportingManager
from geofences.worker import GeofenceWorker
from lbs.billing.hooks import attach as attach_billing
from lbs.clock import Clock
from lbs.consent.service import ConsentService
from lbs.consent.sms import ConsentSms
from lbs.db import create_pool
from lbs.keywords import register_builtin
from lbs.location import LocationService
from lbs.messaging.core import MessagingCore
from lbs.messaging.optout import OptOutSms
from lbs.messaging.router import KeywordRouter, Mo, Reply
from lbs.metrics import Metrics
from lbs.mlp import MlpClient
from lbs.mlp.events import LocationEvent
from lbs.mlp.receiver import PushReceiver
from lbs.mlp.reqids import RedisOpenRequests
from lbs.pois.search import PoiSearch
from lbs.pois.sms import ActiveQueryDeps
from lbs.pois.sms import register_keywords as register_poi_keywords
from lbs.pois.store import custom_words
from lbs.settings import Settings
from lbs.subscribers import remember

log = structlog.get_logger(__name__)

API, MESSAGING, GEOFENCE, SCHEDULER = "api", "messaging", "geofence", "scheduler"
ROLES: Final = (API, MESSAGING, GEOFENCE, SCHEDULER)
# `lbs serve`: the HTTP API with its SMPP bind and the periodic jobs; geofence workers run on their own.
SERVE_ROLES: Final = (API, MESSAGING, SCHEDULER)

T = TypeVar("T")
Context = Callable[[], AbstractAsyncContextManager[None]]


class NotOpen(RuntimeError):
    """A service was asked for before the context that builds it was opened (a wiring bug)."""


class Root:
    """Builds every service from ``settings`` and ``clock``; :meth:`open` runs the contexts of some roles."""

    def __init__(self, settings: Settings, clock: Clock, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.router = KeywordRouter(service_name="LBS " + settings.short_code)
        self.poi_search = PoiSearch(settings)
        self._pool: asyncpg.Pool[Any] | None = None
        self._redis: aioredis.Redis | None = None
        self._http: aiohttp.ClientSession | None = None
        self._mlp: MlpClient | None = None
        self._consent: ConsentService | None = None
        self._location: LocationService | None = None
        self._messaging: MessagingCore | None = None
        self._push_receiver: PushReceiver | None = None
        self.jobs: list[scheduler.Job] = []

    # --- what the contexts build ----------------------------------------------------------------------------
    @property
    def pool(self) -> asyncpg.Pool[Any]:
        return _built(self._pool, "postgres")

    @property
    def redis(self) -> aioredis.Redis:
        return _built(self._redis, "redis")

    @property
    def http(self) -> aiohttp.ClientSession:
        return _built(self._http, "http")

    @property
    def mlp(self) -> MlpClient:
        return _built(self._mlp, "http")

    @property
    def consent(self) -> ConsentService:
        return _built(self._consent, "services")

    @property
    def location(self) -> LocationService:
        return _built(self._location, "services")

    @property
    def messaging(self) -> MessagingCore:
        return _built(self._messaging, "messaging")

    @property
    def push_receiver(self) -> PushReceiver | None:
        """The MLP push receiver this process serves on its own listener (api role), if any."""
        return self._push_receiver

    # --- one context per external resource --------------------------------------------------------------------
    @asynccontextmanager
    async def postgres(self) -> AsyncIterator[None]:
        self._pool = await create_pool(self.settings)
        try:
            yield
        finally:
            await self._pool.close()

    @asynccontextmanager
    async def redis_client(self) -> AsyncIterator[None]:
        self._redis = aioredis.Redis.from_url(self.settings.redis_url)
        try:
            yield
        finally:
            await self._redis.aclose()

    @asynccontextmanager
    async def http_session(self) -> AsyncIterator[None]:
        """The HTTP client session and the MLP client on it (the LES)."""
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.mlp_timeout_s))
        opened = RedisOpenRequests(self.redis)  # the requests whose pushed reports the push listener accepts
        self._mlp = MlpClient(self._http, self.settings, events=self._count_location, clock=self.clock, opened=opened)
        try:
            yield
        finally:
            await self._http.close()

    async def _count_location(self, event: LocationEvent) -> None:
        # Billing and audit of locations happen in LocationService, in the transaction of the disclosure;
        # the client's event stream feeds the metrics (every result, success or error, by MLP result code).
        self.metrics.locations.labels(event.result.name.lower()).inc()

    @asynccontextmanager
    async def services(self) -> AsyncIterator[None]:
        """Consent and location (no I/O of their own: they use the pool and the MLP client)."""
        self._consent = ConsentService(self.pool, self.settings, self.clock)
        self._location = LocationService(self.pool, self._consent, self.mlp)
        yield

    @asynccontextmanager
    async def push_listener(self) -> AsyncIterator[None]:
        """The LES's way in: pushed reports on their own listener, to the geofence position stream."""
        async with serve_push(self.settings, self.redis, self.clock) as receiver:
            self._push_receiver = receiver
            yield

    @asynccontextmanager
    async def messaging_core(self) -> AsyncIterator[None]:
        """The keyword router's keywords, then the SMPP bind, MO intake and MT dispatch."""
        await self._register_keywords()
        core = MessagingCore(self.settings, self.pool, self.redis, self._on_mo, clock=self.clock, metrics=self.metrics)
        attach_billing(core)  # every MT segment the SMSC accepts is rated; receipts settle delivery-charged ones
        core.submit_listeners.append(promotion_hooks.on_submitted)  # promotion reports: sent, delivered
        core.receipt_listeners.append(promotion_hooks.on_receipt)
        self._messaging = core
        if self.settings.smpp_enabled:
            await core.start()
        try:
            yield
        finally:
            await core.stop()

    async def _register_keywords(self) -> None:
        settings, router, pool = self.settings, self.router, self.pool
        register_builtin(router, self.location)
        consent_sms = ConsentSms(self.consent)
        consent_sms.register(router)
        OptOutSms(
            pool, settings.pseudonym_key, router.service_name, consent_sms.revoke_app, [promotion_hooks.on_stop]
        ).register(router)
        deps = ActiveQueryDeps(pool, self.location, settings, self.poi_search, custom=await custom_words(pool))
        register_poi_keywords(router, deps)

    async def _on_mo(self, mo: Mo) -> str | Reply | None:
        command = self.router.parse(mo.text)
        await remember(self.pool, mo.source, command.language if command else "en")
        keyword, reply = await self.router.dispatch(mo)
        self.metrics.mo_received.labels(keyword).inc()
        log.info("mo", keyword=keyword)
        return reply

    @asynccontextmanager
    async def geofence_worker(self) -> AsyncIterator[None]:
        """One consumer of the position stream, in this process."""
        worker = GeofenceWorker(self.settings, self.pool, self.redis, clock=self.clock)
        halt = asyncio.Event()
        task = asyncio.create_task(worker.run(halt), name="geofence-worker")
        try:
            yield
        finally:
            halt.set()
            try:
                async with asyncio.timeout(5):
                    await task
            except TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    @asynccontextmanager
    async def periodic_jobs(self) -> AsyncIterator[None]:
        """The scheduler role: every periodic job, and the LES's triggered reporting kept in line."""
        self.jobs = scheduler.jobs(self.settings, self.pool, self.clock)
        tasks = [asyncio.create_task(job.run(), name=f"job-{job.name}") for job in self.jobs]
        halt = asyncio.Event()
        if self.settings.geofence_reporting:
            manager = ReportingManager(self.pool, self.redis, self.mlp, self.settings, self.clock)
            tasks.append(asyncio.create_task(manager.run(halt), name="geofence-reporting"))
        try:
            yield
        finally:
            halt.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- roles ------------------------------------------------------------------------------------------------
    def contexts(self, roles: Collection[str]) -> list[tuple[str, Context]]:
        """The contexts ``roles`` need, in the order they open (shared resources once)."""
        unknown = set(roles) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}; choose from {', '.join(ROLES)}")
        wanted = [
            ("postgres", self.postgres, True),
            ("redis", self.redis_client, True),
            ("http", self.http_session, True),
            ("services", self.services, True),
            ("push", self.push_listener, API in roles),
            ("messaging", self.messaging_core, MESSAGING in roles),
            ("scheduler", self.periodic_jobs, SCHEDULER in roles),
            ("geofence", self.geofence_worker, GEOFENCE in roles),
        ]
        return [(name, ctx) for name, ctx, needed in wanted if needed]

    @asynccontextmanager
    async def open(self, roles: Collection[str]) -> AsyncIterator[Root]:
        """Open what ``roles`` need; close it in reverse order on exit."""
        async with AsyncExitStack() as stack:
            for _, ctx in self.contexts(roles):
                await stack.enter_async_context(ctx())
            yield self


def _built(value: T | None, context: str) -> T:
    if value is None:
        raise NotOpen(f"the {context!r} context of the composition root is not open in this process")
    return value


def parse_roles(text: str) -> list[str]:
    """``api,messaging`` -> the roles, validated (ValueError names the unknown ones)."""
    roles = [r.strip() for r in text.split(",") if r.strip()]
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ValueError(f"roles: {', '.join(unknown) or '(none)'} unknown; choose from {', '.join(ROLES)}")
    return roles
