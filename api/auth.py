"""Bearer credentials: API keys with roles and scopes (401 without a valid key, 403 with the wrong role or
without the scope), and, for the CAMARA APIs only, device access tokens (signed JWTs, see :mod:`lbs.oauth`)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from api.keys import CLOCK_KEY, PG_POOL_KEY, PRINCIPAL_KEY, SETTINGS_KEY
from lbs.apikeys import Principal, authenticate
from lbs.clock import Clock
from lbs.errors import PermissionDenied, Unauthenticated
from lbs.oauth import grants, tokens
from lbs.pois.store import AppRef


def clock_of(app: web.Application) -> Clock:
    """The process's clock (``CLOCK_KEY``, set by ``create_app``): CAMARA APIs and device tokens read it."""
    return app[CLOCK_KEY]


def bearer(request: web.Request) -> str:
    """The bearer credential of ``request``, or 401."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("missing bearer credential (Authorization: Bearer lbs_... or an access token)")
    return token.strip()


async def require(request: web.Request, *roles: str) -> Principal:
    """The caller's principal, checked against ``roles`` (any role when none are named). API keys only."""
    if PRINCIPAL_KEY in request:
        principal = request[PRINCIPAL_KEY]
    else:
        found = await authenticate(request.app[PG_POOL_KEY], bearer(request))
        if found is None:
            raise Unauthenticated("invalid or revoked API key")
        principal = request[PRINCIPAL_KEY] = found
    if roles and principal.role not in roles:
        raise PermissionDenied(f"this endpoint needs the role {' or '.join(roles)}; the key has {principal.role}")
    return principal


def provider_id_of(principal: Principal) -> int:
    """A provider key always names its provider (a CHECK constraint guarantees it)."""
    assert principal.provider_id is not None
    return principal.provider_id


@dataclass(frozen=True)
class CamaraCaller:
    """Who calls a CAMARA API: a provider, and with a device token also the application and the device."""

    provider_id: int
    scopes: frozenset[str]
    application: AppRef | None = None  # fixed by a token; with an API key, chosen per request
    device: str | None = None  # the MSISDN a token identifies (never shown to the client)


async def camara_caller(request: web.Request) -> CamaraCaller:
    """A provider API key or a device access token: 401 when neither is valid."""
    token = bearer(request)
    if tokens.looks_like_jwt(token):
        return await _token_caller(request, token)
    principal = await require(request, "provider")
    return CamaraCaller(provider_id_of(principal), principal.scopes)


def need(caller: CamaraCaller, scope: str) -> None:
    """403 unless the caller's key or token holds ``scope``."""
    if scope not in caller.scopes:
        raise PermissionDenied(f"this operation needs the scope {scope}")


async def require_scope(request: web.Request, scope: str) -> CamaraCaller:
    """A provider API key or a device access token holding ``scope``: 401 when neither is valid, 403 without it."""
    caller = await camara_caller(request)
    need(caller, scope)
    return caller


async def _token_caller(request: web.Request, token: str) -> CamaraCaller:
    now = clock_of(request.app)()
    claims = tokens.verify(request.app[SETTINGS_KEY].oauth_jwt_secret, token, now)
    subject = await grants.subject_of(request.app[PG_POOL_KEY], claims.grant)
    app = AppRef(subject.application_id, subject.application, subject.provider_id)
    return CamaraCaller(subject.provider_id, claims.scopes, app, subject.msisdn)
