"""The LES emulator app: MLP 3.x over HTTP plus the ``/sim`` control API, on one port.

``create_les_app`` only builds the app; the HTTP session (privacy checks, pushes) and the trigger tasks are
resources in ``cleanup_ctx``. Run it with ``python -m les_simulator.les``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from les_simulator.les.clock import Clock, SystemClock
from les_simulator.les.control import setup_control_routes
from les_simulator.les.handlers import mlp_endpoint
from les_simulator.les.keys import (
    CLOCK_KEY,
    HTTP_SESSION_KEY,
    POPULATION_KEY,
    PRIVACY_KEY,
    PUSHER_KEY,
    SERVICE_KEY,
    SETTINGS_KEY,
    STATE_KEY,
    TRIGGERS_KEY,
)
from les_simulator.les.population import Population
from les_simulator.les.privacy import CachingPrivacyChecker, HttpPrivacyChecker, PrivacyChecker
from les_simulator.les.push import Pusher
from les_simulator.les.service import LocationService
from les_simulator.les.state import LesState
from les_simulator.les.triggers import TriggerManager
from les_simulator.settings import LesSettings


def create_les_app(
    settings: LesSettings | None = None, *, clock: Clock | None = None, privacy: PrivacyChecker | None = None
) -> web.Application:
    """Build the emulator. ``privacy`` None means: ask the platform's ``/v1/privacy/check`` over HTTP."""
    settings = settings or LesSettings()
    # The MLP handler enforces its own (smaller) cap and answers a FORMAT ERROR; this is the transport ceiling.
    app = web.Application(client_max_size=max(settings.les_max_body_bytes * 4, 1_048_576))
    app[SETTINGS_KEY] = settings
    app[CLOCK_KEY] = clock or SystemClock()
    app[POPULATION_KEY] = Population(
        settings.les_seed, settings.les_population, settings.les_first_msisdn, settings.les_bbox
    )
    app[STATE_KEY] = LesState(received_max=settings.les_received_max)
    if privacy is not None:
        app[PRIVACY_KEY] = privacy
    app.cleanup_ctx.append(_http_session)
    app.cleanup_ctx.append(_services)
    app.router.add_post("/mlp", mlp_endpoint)
    app.router.add_post("/", mlp_endpoint)
    setup_control_routes(app)
    return app


async def _http_session(app: web.Application) -> AsyncIterator[None]:
    """One client session for privacy checks and report pushes."""
    async with aiohttp.ClientSession() as session:
        app[HTTP_SESSION_KEY] = session
        yield


async def _services(app: web.Application) -> AsyncIterator[None]:
    """The location service and the trigger manager; triggers are cancelled at shutdown."""
    settings = app[SETTINGS_KEY]
    session = app[HTTP_SESSION_KEY]
    if PRIVACY_KEY not in app:
        checker: PrivacyChecker = HttpPrivacyChecker(
            session, settings.les_privacy_url, settings.privacy_internal_key, settings.les_privacy_timeout_s
        )
        if settings.les_privacy_cache_s > 0:
            checker = CachingPrivacyChecker(checker, settings.les_privacy_cache_s)
        app[PRIVACY_KEY] = checker
    service = LocationService(settings, app[POPULATION_KEY], app[STATE_KEY], app[CLOCK_KEY], app[PRIVACY_KEY])
    app[SERVICE_KEY] = service
    app[PUSHER_KEY] = Pusher(session, settings.les_push_allow_hosts, settings.les_push_timeout_s)
    app[TRIGGERS_KEY] = TriggerManager(service, app[PUSHER_KEY], settings, app[CLOCK_KEY])
    yield
    await app[TRIGGERS_KEY].close()
