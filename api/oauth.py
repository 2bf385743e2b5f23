"""Device access tokens for the CAMARA APIs: an authorisation-code flow where the subscriber consents with a
one-time code sent by SMS.

1. ``POST /oauth/authorize`` (the provider's API key): ``login_hint`` (``tel:+32...``), ``scope``, optional
   ``client_id`` (the application) and ``redirect_uri``. A 6-digit code goes to the subscriber by SMS, through the
   messaging outbox in the same transaction; the answer is the ``request_id``.
2. ``POST /oauth/authorize/{request_id}/confirm`` (the subscriber's user agent, no key): ``{"otp": "123456"}``
   -> the authorisation ``code`` (and ``redirect_to``: the redirect URI with ``code``).
3. ``POST /oauth/token`` (the provider's API key): ``grant_type=authorization_code`` and ``code`` -> a short-lived
   signed JWT (``token_type`` Bearer) with the scopes asked, identifying the device without naming it.
Consent to locate is still the subscriber's grant in the consent registry, checked on every disclosure.
"""

from __future__ import annotations

from typing import Any, Final, Literal
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from api.auth import camara_caller, clock_of, need
from api.camara_common import application
from api.keys import MESSAGING_KEY, PG_POOL_KEY, SETTINGS_KEY
from api.openapi import error, json_ok, operation, path_param
from api.validation import parse_json, validate
from lbs.errors import InvalidArgument, NotFound
from lbs.messaging.outbox import MtRequest
from lbs.msisdn import to_e164
from lbs.oauth import grants, tokens
from lbs.pois import store

AUTHORIZE: Final = "/oauth/authorize"
CONFIRM: Final = "/oauth/authorize/{request_id}/confirm"
TOKEN: Final = "/oauth/token"  # noqa: S105 - a path, not a secret


class AuthorizeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    login_hint: str = Field(min_length=3, max_length=40, description="tel:+E164 or +E164")
    scope: str = Field(min_length=1, max_length=2000)
    client_id: str | None = Field(None, max_length=20, description="The application (default: the only one)")
    redirect_uri: str | None = Field(None, max_length=2048)


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    otp: str = Field(pattern=r"^\s*[0-9]{6}\s*$")


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grant_type: Literal["authorization_code"]
    code: str = Field(min_length=10, max_length=200)


def check_scopes(raw: str) -> frozenset[str]:
    """The scopes asked: CAMARA ones only."""
    scopes = tokens.parse_scopes(raw)
    unknown = sorted(scopes - tokens.CAMARA_SCOPES)
    if unknown or not scopes:
        raise InvalidArgument(f"scope: unknown {' '.join(unknown) or '(none)'}", code="INVALID_SCOPE")
    return scopes


def check_redirect(uri: str | None) -> str | None:
    """https, or http to a loopback host (a native app's redirect)."""
    if uri is None:
        return None
    parts = urlsplit(uri)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in {"127.0.0.1", "localhost", "::1"}):
        return uri
    raise InvalidArgument("redirect_uri: must be https (or http to a loopback host)")


def sms_text(application: str, otp: str) -> str:
    return f"{otp} is your code to let {application} use your phone's location. Do not share it."


async def authorize(request: web.Request) -> web.Response:
    """Start: the subscriber gets a one-time code by SMS."""
    caller = await camara_caller(request)
    body = await parse_json(request, AuthorizeIn)
    scopes = check_scopes(body.scope)
    for scope in scopes:
        need(caller, scope)  # a key cannot hand out more than it holds
    redirect = check_redirect(body.redirect_uri)
    msisdn = to_e164(body.login_hint.removeprefix("tel:"))
    settings, pool, now = request.app[SETTINGS_KEY], request.app[PG_POOL_KEY], clock_of(request.app)()
    if body.client_id:
        app = await store.app_by_name(pool, body.client_id, caller.provider_id)
    else:
        app = await application(request, caller)
    if not await pool.fetchval("SELECT 1 FROM subscribers WHERE msisdn = $1", msisdn):
        raise NotFound(f"no subscriber {msisdn}", code="IDENTIFIER_NOT_FOUND")
    otp = grants.new_otp()
    async with pool.acquire() as conn, conn.transaction():
        public_id = await grants.start(conn, provider_id=caller.provider_id, application_id=app.id, msisdn=msisdn,
                                       scopes=scopes, redirect_uri=redirect, otp=otp, now=now,
                                       ttl_s=settings.oauth_request_ttl_s)  # fmt: skip
        mt = MtRequest(msisdn, sms_text(app.name, otp), settings.short_code, application_id=app.id,
                       idempotency_key=f"oauth:{public_id}")  # fmt: skip
        await request.app[MESSAGING_KEY].enqueue(conn, mt)
    return web.json_response({"request_id": public_id, "expires_in": settings.oauth_request_ttl_s})


async def confirm(request: web.Request) -> web.Response:
    """The subscriber types the code: the authorisation code (and where to send it)."""
    body = await parse_json(request, ConfirmIn)
    settings = request.app[SETTINGS_KEY]
    code, redirect = await grants.confirm(request.app[PG_POOL_KEY], request.match_info["request_id"], body.otp,
                                          clock_of(request.app)(), settings.oauth_otp_attempts)  # fmt: skip
    out: dict[str, Any] = {"code": code}
    if redirect:
        out["redirect_to"] = f"{redirect}{'&' if '?' in redirect else '?'}{urlencode({'code': code})}"
    return web.json_response(out)


async def token(request: web.Request) -> web.Response:
    """The authorisation code for a short-lived access token."""
    caller = await camara_caller(request)
    if request.content_type == "application/x-www-form-urlencoded":
        body = validate(TokenIn, dict(await request.post()))
    else:
        body = await parse_json(request, TokenIn)
    settings, now = request.app[SETTINGS_KEY], clock_of(request.app)()
    grant, app_name, scopes = await grants.exchange(request.app[PG_POOL_KEY], body.code, caller.provider_id, now)
    ttl = settings.oauth_token_ttl_s
    access = tokens.issue(settings.oauth_jwt_secret, grant, app_name, frozenset(scopes), now, ttl)
    return web.json_response({"access_token": access, "token_type": "Bearer", "expires_in": ttl,
                              "scope": " ".join(sorted(scopes))})  # fmt: skip


def setup_oauth_routes(app: web.Application) -> None:
    """Add the three routes of the device token flow."""
    app.router.add_post(AUTHORIZE, authorize)
    app.router.add_post(CONFIRM, confirm)
    app.router.add_post(TOKEN, token)


OPENAPI_PATHS: Final[dict[str, Any]] = {
    AUTHORIZE: {"post": operation(
        "Start a device authorisation: the subscriber gets a one-time code by SMS",
        {"200": json_ok("request_id and expires_in"), "404": error("Unknown subscriber (IDENTIFIER_NOT_FOUND)")},
        roles=("provider",), body=AuthorizeIn)},
    CONFIRM: {"post": operation(
        "The subscriber confirms with the code: an authorisation code",
        {"200": json_ok("code (and redirect_to)"), "403": error("Wrong code, or the request is no longer pending"),
         "404": error("No such request"), "400": error("Invalid body")},
        parameters=[path_param("request_id", "From /oauth/authorize")])},
    TOKEN: {"post": operation(
        "Exchange the authorisation code for an access token (JWT)",
        {"200": json_ok("access_token, token_type, expires_in, scope"),
         "400": error("Invalid, used or expired code (INVALID_GRANT)")},
        roles=("provider",), body=TokenIn)},
}  # fmt: skip
