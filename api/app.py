"""The platform's aiohttp application: ``create_app(settings)`` builds it; the CLI runs it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import redis.asyncio as aioredis
import structlog
from aiohttp import web

from api import billing, camara, camara_geofencing, consent, oauth, pois, promotions, system, v1
from api.keys import (
    CLOCK_KEY,
    CONSENT_KEY,
    HTTP_SESSION_KEY,
    LOCATION_KEY,
    MESSAGING_KEY,
    METRICS_KEY,
    MLP_CLIENT_KEY,
    PG_POOL_KEY,
    REDIS_KEY,
    SETTINGS_KEY,
)
from api.middleware import error_middleware, metrics_middleware
from api.openapi import OPENAPI_FRAGMENTS_KEY
from api.pois import POI_SEARCH_KEY
from api.privacy import OPENAPI_PATHS as PRIVACY_PATHS
from api.privacy import setup_privacy_routes
from geofences import promotions as promotion_hooks
from geofences.reporting import ReportingManager
from geofences.worker import event_sink as geofence_event_sink
from lbs.billing.hooks import attach as attach_billing
from lbs.clock import Clock
from lbs.consent.privacy_ops import run_retention
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
from lbs.mlp.events import EventSink, LocationEvent
from lbs.mlp.receiver import PUSH_OPENAPI_PATHS, PushReceiver, setup_push_routes
from lbs.pois.sms import ActiveQueryDeps
from lbs.pois.sms import register_keywords as register_poi_keywords
from lbs.pois.store import custom_words
from lbs.settings import Settings

log = structlog.get_logger(__name__)

ROUTER_KEY = web.AppKey("keyword_router", KeywordRouter)
GEOFENCE_SINK_KEY: web.AppKey[EventSink] = web.AppKey("geofence_sink")


async def _postgres(app: web.Application) -> AsyncIterator[None]:
    pool = await create_pool(app[SETTINGS_KEY])
    app[PG_POOL_KEY] = pool
    yield
    await pool.close()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    client = aioredis.Redis.from_url(app[SETTINGS_KEY].redis_url)
    app[REDIS_KEY] = client
    yield
    await client.aclose()


async def _http_session(app: web.Application) -> AsyncIterator[None]:
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=app[SETTINGS_KEY].mlp_timeout_s))
    app[HTTP_SESSION_KEY] = session
    metrics = app[METRICS_KEY]

    async def count(event: LocationEvent) -> None:
        # Billing and audit of locations happen in LocationService, in the transaction of the disclosure;
        # the client's event stream feeds the metrics (every result, success or error, by MLP result code).
        metrics.locations.labels(event.result.name.lower()).inc()

    app[MLP_CLIENT_KEY] = MlpClient(session, app[SETTINGS_KEY], events=count, clock=app[CLOCK_KEY])
    yield
    await session.close()


async def _register_keywords(app: web.Application, consent: ConsentService) -> None:
    settings, router, pool = app[SETTINGS_KEY], app[ROUTER_KEY], app[PG_POOL_KEY]
    register_builtin(router, app[LOCATION_KEY])
    consent_sms = ConsentSms(consent)
    consent_sms.register(router)
    OptOutSms(
        pool, settings.pseudonym_key, router.service_name, consent_sms.revoke_app, [promotion_hooks.on_stop]
    ).register(router)
    deps = ActiveQueryDeps(pool, app[LOCATION_KEY], settings, app[POI_SEARCH_KEY], custom=await custom_words(pool))
    register_poi_keywords(router, deps)


async def _messaging(app: web.Application) -> AsyncIterator[None]:
    settings, pool, router, metrics = app[SETTINGS_KEY], app[PG_POOL_KEY], app[ROUTER_KEY], app[METRICS_KEY]
    consent = ConsentService(pool, settings, app[CLOCK_KEY])
    app[CONSENT_KEY] = consent
    app[LOCATION_KEY] = LocationService(pool, consent, app[MLP_CLIENT_KEY])
    await _register_keywords(app, consent)

    async def on_mo(mo: Mo) -> str | Reply | None:
        command = router.parse(mo.text)
        await pool.execute(
            "INSERT INTO subscribers (msisdn, language) VALUES ($1, $2) ON CONFLICT (msisdn) DO NOTHING",
            mo.source,
            command.language if command else "en",
        )
        keyword, reply = await router.dispatch(mo)
        metrics.mo_received.labels(keyword).inc()
        log.info("mo", source=mo.source, to=mo.destination, keyword=keyword)
        return reply

    core = MessagingCore(settings, pool, app[REDIS_KEY], on_mo, clock=app[CLOCK_KEY], metrics=metrics)
    attach_billing(core)  # every MT segment the SMSC accepts is rated; receipts settle delivery-charged ones
    core.submit_listeners.append(promotion_hooks.on_submitted)  # promotion reports: sent, delivered
    core.receipt_listeners.append(promotion_hooks.on_receipt)
    app[MESSAGING_KEY] = core
    if settings.smpp_enabled:
        await core.start()
    yield
    await core.stop()


async def _retention(app: web.Application) -> AsyncIterator[None]:
    """Forget what is past its retention, every ``retention_interval_s``."""
    settings, pool, clock = app[SETTINGS_KEY], app[PG_POOL_KEY], app[CLOCK_KEY]

    async def loop() -> None:
        while True:
            await asyncio.sleep(settings.retention_interval_s)
            try:
                touched = await run_retention(pool, settings, clock())
                log.info("retention", **touched)
            except (OSError, asyncpg.PostgresError):
                log.exception("retention run failed; next try in one interval")

    task = asyncio.create_task(loop(), name="retention")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _to_geofences(app: web.Application) -> EventSink:
    """Pushed positions (MLP slirep/tlrep) go to the geofence stream; the sink needs Redis, open at start-up."""

    async def sink(event: LocationEvent) -> None:
        await app[GEOFENCE_SINK_KEY](event)

    return sink


async def _geofence_stream(app: web.Application) -> AsyncIterator[None]:
    app[GEOFENCE_SINK_KEY] = geofence_event_sink(app[REDIS_KEY], app[SETTINGS_KEY])
    yield


async def _geofence_reporting(app: web.Application) -> AsyncIterator[None]:
    """Keep the LES's triggered reporting in line with consent and promotions (one process: the API's)."""
    settings = app[SETTINGS_KEY]
    if not settings.geofence_reporting:
        yield
        return
    manager = ReportingManager(app[PG_POOL_KEY], app[REDIS_KEY], app[MLP_CLIENT_KEY], settings, app[CLOCK_KEY])
    stop = asyncio.Event()
    task = asyncio.create_task(manager.run(stop), name="geofence-reporting")
    yield
    stop.set()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> web.Application:
    """Build the platform app. No I/O here: every resource opens in its ``cleanup_ctx`` when the app starts.

    ``clock`` is the process's one clock (default: the one the settings ask for); tests and the demo pin it.
    """
    settings = settings or Settings()
    app = web.Application(middlewares=[metrics_middleware, error_middleware], client_max_size=settings.max_body_bytes)
    app[SETTINGS_KEY] = settings
    app[CLOCK_KEY] = clock or settings.make_clock()
    app[METRICS_KEY] = Metrics()
    app[ROUTER_KEY] = KeywordRouter(service_name="LBS " + settings.short_code)
    app[OPENAPI_FRAGMENTS_KEY] = [
        PRIVACY_PATHS,
        consent.OPENAPI_PATHS,
        billing.OPENAPI_PATHS,
        promotions.OPENAPI_PATHS,
        camara_geofencing.OPENAPI_PATHS,
        oauth.OPENAPI_PATHS,
        PUSH_OPENAPI_PATHS,
    ]
    app.cleanup_ctx.extend(
        [_postgres, _redis, _geofence_stream, _http_session, _messaging, _retention, _geofence_reporting]
    )
    app.add_routes(system.routes)
    app.add_routes(v1.routes)
    app.add_routes(consent.routes)
    setup_privacy_routes(app)
    billing.setup_billing_routes(app)
    promotions.setup_promotion_routes(app)
    camara_geofencing.setup_camara_geofencing_routes(app)
    setup_push_routes(app, PushReceiver(settings, events=_to_geofences(app), clock=app[CLOCK_KEY]))
    pois.setup_poi_routes(app)
    camara.setup_camara_routes(app)
    oauth.setup_oauth_routes(app)
    return app
