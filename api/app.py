"""The platform's aiohttp application: ``create_app(settings)`` builds it on the composition root (:mod:`api.root`);
the CLI runs it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection

import structlog
from aiohttp import web

from api import billing, camara, camara_geofencing, consent, oauth, operator, pois, promotions, system, v1
from api.keys import (
    CLOCK_KEY,
    CONSENT_KEY,
    HTTP_SESSION_KEY,
    LOCATION_KEY,
    MESSAGING_KEY,
    METRICS_KEY,
    MLP_CLIENT_KEY,
    PG_POOL_KEY,
    PUSH_LISTENER_KEY,
    REDIS_KEY,
    SETTINGS_KEY,
)
from api.middleware import error_middleware, metrics_middleware
from api.openapi import OPENAPI_FRAGMENTS_KEY
from api.pois import POI_SEARCH_KEY
from api.privacy import OPENAPI_PATHS as PRIVACY_PATHS
from api.privacy import setup_privacy_routes
from api.root import API, SERVE_ROLES, Context, Root
from lbs.clock import Clock
from lbs.settings import Settings

log = structlog.get_logger(__name__)

ROOT_KEY = web.AppKey("root", Root)
CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


def _publish(app: web.Application, root: Root, name: str) -> None:
    """Put what the ``name`` context built where the handlers look for it (typed keys)."""
    if name == "postgres":
        app[PG_POOL_KEY] = root.pool
    elif name == "redis":
        app[REDIS_KEY] = root.redis
    elif name == "http":
        app[HTTP_SESSION_KEY], app[MLP_CLIENT_KEY] = root.http, root.mlp
    elif name == "services":
        app[CONSENT_KEY], app[LOCATION_KEY] = root.consent, root.location
    elif name == "messaging":
        app[MESSAGING_KEY] = root.messaging
    elif name == "push" and root.push_receiver is not None:
        app[PUSH_LISTENER_KEY] = root.push_receiver


def _cleanup_ctx(root: Root, name: str, open_ctx: Context) -> CleanupCtx:
    """One ``cleanup_ctx`` entry per context of the composition root."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with open_ctx():
            _publish(app, root, name)
            yield

    ctx.__name__ = f"_{name}"
    return ctx


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, roles: Collection[str] = SERVE_ROLES
) -> web.Application:
    """Build the platform app. No I/O here: every resource opens in its ``cleanup_ctx`` when the app starts.

    ``clock`` is the process's one clock (default: the one the settings ask for); tests and the demo pin it.
    ``roles`` are what this process runs besides the HTTP API (:mod:`api.root`): by default its SMPP bind and the
    periodic jobs, as ``lbs serve``; the demo adds a geofence worker.
    """
    settings = settings or Settings()
    root = Root(settings, clock or settings.make_clock())
    app = web.Application(middlewares=[metrics_middleware, error_middleware], client_max_size=settings.max_body_bytes)
    app[ROOT_KEY] = root
    app[SETTINGS_KEY] = settings
    app[CLOCK_KEY] = root.clock
    app[METRICS_KEY] = root.metrics
    app[POI_SEARCH_KEY] = root.poi_search
    app[OPENAPI_FRAGMENTS_KEY] = [
        PRIVACY_PATHS,
        consent.OPENAPI_PATHS,
        billing.OPENAPI_PATHS,
        promotions.OPENAPI_PATHS,
        camara_geofencing.OPENAPI_PATHS,
        oauth.OPENAPI_PATHS,
        operator.OPENAPI_PATHS,
    ]
    app.cleanup_ctx.extend(_cleanup_ctx(root, name, ctx) for name, ctx in root.contexts({API, *roles}))
    app.add_routes(system.routes)
    app.add_routes(v1.routes)
    app.add_routes(consent.routes)
    setup_privacy_routes(app)
    billing.setup_billing_routes(app)
    promotions.setup_promotion_routes(app)
    camara_geofencing.setup_camara_geofencing_routes(app)
    pois.setup_poi_routes(app)
    camara.setup_camara_routes(app)
    oauth.setup_oauth_routes(app)
    operator.setup_operator_routes(app)
    return app
