"""Consent by API: providers ask for and read consent of their own applications; privacy officers find,
revoke and pause grants, read the audit trail, export a subject's data and erase it, and set retention."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.auth import provider_id_of, require
from api.keys import CONSENT_KEY, MESSAGING_KEY, PG_POOL_KEY, SETTINGS_KEY
from api.openapi import error, json_ok, operation, path_param, query_param
from api.validation import parse_json
from lbs.consent import privacy_ops, registry
from lbs.consent.decision import Grant, Precision, Purpose
from lbs.consent.service import parse_duration
from lbs.consent.texts import purpose_word, text
from lbs.db import Conn
from lbs.errors import InvalidArgument, NotFound
from lbs.messaging.outbox import MtRequest
from lbs.msisdn import to_e164

routes = web.RouteTableDef()


class ConsentRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    msisdn: str = Field(min_length=3, max_length=32)
    application: str = Field(min_length=2, max_length=20)
    purpose: Purpose
    precision: Precision = Precision.EXACT


class OfficerAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=500, description="Why, for the audit trail (required).")


class RevokeIn(OfficerAction):
    application: str | None = Field(None, min_length=2, max_length=20, description="Omit: every application.")
    purpose: Purpose | None = Field(None, description="Omit: every purpose.")


class PauseIn(OfficerAction):
    duration: str = Field(description="How long, e.g. 2H, 1D, 30M (at most 365 days).")

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class RetentionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    positions_s: int | None = Field(None, gt=0, le=10 * 365 * 86400)
    presence_s: int | None = Field(None, gt=0, le=10 * 365 * 86400)
    message_bodies_s: int | None = Field(None, gt=0, le=10 * 365 * 86400)


def _msisdn(request: web.Request) -> str:
    return to_e164(request.match_info["msisdn"])


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def grant_json(g: Grant, now: datetime) -> dict[str, Any]:
    state = "active"
    if g.revoked_at is not None:
        state = "revoked"
    elif g.expires_at <= now:
        state = "expired"
    elif g.paused_until is not None and g.paused_until > now:
        state = "paused"
    return {
        "id": g.id,
        "application": g.application,
        "purpose": g.purpose.value,
        "precision": g.precision.value,
        "state": state,
        "granted_at": _iso(g.granted_at),
        "expires_at": _iso(g.expires_at),
        "paused_until": _iso(g.paused_until),
        "revoked_at": _iso(g.revoked_at),
    }


async def _owned_application(conn: Conn, provider_id: int, name: str) -> int:
    app_id = await conn.fetchval(
        "SELECT id FROM applications WHERE name = $1 AND provider_id = $2", name.upper(), provider_id
    )
    if app_id is None:
        raise NotFound(f"no application named {name!r}")
    return int(app_id)


@routes.post("/v1/consents/requests")
async def request_consent(request: web.Request) -> web.Response:
    """Provider: ask a subscriber to allow one of the caller's applications; the subscriber gets one SMS."""
    principal = await require(request, "provider")
    body = await parse_json(request, ConsentRequestIn)
    msisdn = to_e164(body.msisdn)
    service = request.app[CONSENT_KEY]
    pool = request.app[PG_POOL_KEY]
    async with pool.acquire() as conn:
        app_id = await _owned_application(conn, provider_id_of(principal), body.application)
        language = await conn.fetchval("SELECT language FROM subscribers WHERE msisdn = $1", msisdn)
    if language is None:
        raise NotFound(f"no subscriber {msisdn}")
    app = body.application.upper()
    sms = text(language, "request", app=app, purpose=purpose_word(language, body.purpose))
    request_id = request.headers.get("X-Request-Id") or f"req-{id(request):x}"
    source = registry.Source("api", principal.name, {"request_id": request_id, "key_id": principal.key_id})
    core = request.app[MESSAGING_KEY]
    short_code = request.app[SETTINGS_KEY].short_code

    async def notify(conn: Conn, to: str, body_text: str) -> None:
        # The provider asked, so the provider pays for the request SMS.
        await core.enqueue(conn, MtRequest(to, body_text, short_code, language=language, application_id=app_id))

    await service.request(msisdn, app, body.purpose, body.precision, source, notify=(notify, sms))
    return web.json_response({"status": "requested", "msisdn": msisdn, "application": app}, status=202)


@routes.get("/v1/consents")
async def provider_consents(request: web.Request) -> web.Response:
    """Provider: the consent state of one subscriber for the caller's applications only."""
    principal = await require(request, "provider")
    raw = request.query.get("msisdn")
    if not raw:
        raise InvalidArgument("query parameter msisdn is required")
    msisdn = to_e164(raw)
    pool = request.app[PG_POOL_KEY]
    names = {
        r["name"]
        for r in await pool.fetch("SELECT name FROM applications WHERE provider_id = $1", provider_id_of(principal))
    }
    grants, _ = await request.app[CONSENT_KEY].grants(msisdn)
    now = request.app[CONSENT_KEY].clock()
    mine = [grant_json(g, now) for g in grants if g.application in names]
    return web.json_response({"msisdn": msisdn, "grants": mine})


@routes.get("/v1/privacy/subscribers/{msisdn}/grants")
async def officer_grants(request: web.Request) -> web.Response:
    """Privacy officer: every grant of a subscriber, and a subscriber-wide pause if any."""
    await require(request, "officer")
    return await _grants_response(request, _msisdn(request))


async def _grants_response(request: web.Request, msisdn: str) -> web.Response:
    service = request.app[CONSENT_KEY]
    grants, paused = await service.grants(msisdn)
    now = service.clock()
    return web.json_response(
        {
            "msisdn": msisdn,
            "paused_until": paused.isoformat() if paused and paused > now else None,
            "grants": [grant_json(g, now) for g in grants],
        }
    )


def _officer_source(principal_name: str, reason: str) -> registry.Source:
    return registry.Source("officer", principal_name, {"officer": principal_name, "reason": reason})


@routes.post("/v1/privacy/subscribers/{msisdn}/revoke")
async def officer_revoke(request: web.Request) -> web.Response:
    """Privacy officer: revoke on the subscriber's behalf (one application/purpose, or all); reason required."""
    principal = await require(request, "officer")
    body = await parse_json(request, RevokeIn)
    msisdn = _msisdn(request)
    await request.app[CONSENT_KEY].revoke(
        msisdn, body.application, body.purpose, _officer_source(principal.name, body.reason)
    )
    return await _grants_response(request, msisdn)


@routes.post("/v1/privacy/subscribers/{msisdn}/pause")
async def officer_pause(request: web.Request) -> web.Response:
    """Privacy officer: refuse every location of the subscriber for a while; reason required."""
    principal = await require(request, "officer")
    body = await parse_json(request, PauseIn)
    until = await request.app[CONSENT_KEY].pause_all(
        _msisdn(request), parse_duration(body.duration), _officer_source(principal.name, body.reason)
    )
    return web.json_response({"msisdn": _msisdn(request), "paused_until": until.isoformat()})


@routes.get("/v1/privacy/subscribers/{msisdn}/audit")
async def officer_audit(request: web.Request) -> web.Response:
    """Privacy officer: who located (or changed the consent of) this subscriber, when, why and how precisely."""
    await require(request, "officer")
    settings = request.app[SETTINGS_KEY]
    rows = await privacy_ops.audit_trail(request.app[PG_POOL_KEY], settings.pseudonym_key, _msisdn(request))
    return web.json_response({"msisdn": _msisdn(request), "entries": rows})


@routes.get("/v1/privacy/subscribers/{msisdn}/export")
async def officer_export(request: web.Request) -> web.Response:
    """Privacy officer: subject access export (grants, disclosures and consent history, messages) as JSON or CSV."""
    await require(request, "officer")
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise InvalidArgument("format must be json or csv")
    msisdn = _msisdn(request)
    data = await privacy_ops.export(request.app[PG_POOL_KEY], request.app[SETTINGS_KEY], msisdn)
    if fmt == "json":
        return web.Response(text=json.dumps(data, default=str), content_type="application/json")
    return web.Response(text=_csv(data), content_type="text/csv")


def _csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "field", "value"])
    for section, rows in data.items():
        if isinstance(rows, list):
            for i, row in enumerate(rows):
                for key, value in row.items():
                    writer.writerow([f"{section}[{i}]", key, value])
        else:
            writer.writerow([section, "", rows])
    return out.getvalue()


@routes.post("/v1/privacy/subscribers/{msisdn}/erase")
async def officer_erase(request: web.Request) -> web.Response:
    """Privacy officer: erase personal data; billing and audit keep a pseudonym, the STOP list a keyed hash."""
    principal = await require(request, "officer")
    body = await parse_json(request, OfficerAction)
    msisdn = _msisdn(request)
    summary = await privacy_ops.erase(
        request.app[PG_POOL_KEY], request.app[CONSENT_KEY], msisdn, _officer_source(principal.name, body.reason)
    )
    return web.json_response({"msisdn": msisdn, "erased": summary})


@routes.get("/v1/privacy/retention")
async def get_retention(request: web.Request) -> web.Response:
    """Privacy officer: retention per data class, in seconds."""
    await require(request, "officer")
    return web.json_response(await privacy_ops.retention(request.app[PG_POOL_KEY], request.app[SETTINGS_KEY]))


@routes.put("/v1/privacy/retention")
async def put_retention(request: web.Request) -> web.Response:
    """Privacy officer: set retention for one or more data classes (seconds, > 0)."""
    await require(request, "officer")
    body = await parse_json(request, RetentionIn)
    changes = {k.removesuffix("_s"): v for k, v in body.model_dump().items() if v is not None}
    if not changes:
        raise InvalidArgument("give at least one of positions_s, presence_s, message_bodies_s")
    await privacy_ops.set_retention(request.app[PG_POOL_KEY], changes)
    return web.json_response(await privacy_ops.retention(request.app[PG_POOL_KEY], request.app[SETTINGS_KEY]))


_MSISDN = [path_param("msisdn", "The subscriber, E.164 (URL-encode the +) or national")]
_OFFICER = ("officer",)
_NOT_FOUND = {"404": error("Unknown subscriber or application")}

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/consents/requests": {
        "post": operation(
            "Ask a subscriber to allow one of your applications (one SMS; no answer means no)",
            {"202": json_ok("Requested"), **_NOT_FOUND},
            roles=("provider",),
            body=ConsentRequestIn,
        )
    },
    "/v1/consents": {
        "get": operation(
            "Consent state of one subscriber for your applications",
            {"200": json_ok("Grants of your applications only")},
            roles=("provider",),
            parameters=[query_param("msisdn", "The subscriber", required=True)],
        )
    },
    "/v1/privacy/subscribers/{msisdn}/grants": {
        "get": operation("Every grant of a subscriber", {"200": json_ok("Grants")}, roles=_OFFICER, parameters=_MSISDN)
    },
    "/v1/privacy/subscribers/{msisdn}/revoke": {
        "post": operation(
            "Revoke on the subscriber's behalf (reason required)",
            {"200": json_ok("Grants after the change"), **_NOT_FOUND},
            roles=_OFFICER,
            body=RevokeIn,
            parameters=_MSISDN,
        )
    },
    "/v1/privacy/subscribers/{msisdn}/pause": {
        "post": operation(
            "Refuse every location of the subscriber for a while (reason required)",
            {"200": json_ok("Paused until"), **_NOT_FOUND},
            roles=_OFFICER,
            body=PauseIn,
            parameters=_MSISDN,
        )
    },
    "/v1/privacy/subscribers/{msisdn}/audit": {
        "get": operation(
            "Who located the subscriber or changed their consent, when, why, how precisely",
            {"200": json_ok("Audit entries, oldest first")},
            roles=_OFFICER,
            parameters=_MSISDN,
        )
    },
    "/v1/privacy/subscribers/{msisdn}/export": {
        "get": operation(
            "Subject access export",
            {"200": {"description": "JSON or CSV", "content": {"application/json": {}, "text/csv": {}}}},
            roles=_OFFICER,
            parameters=[*_MSISDN, query_param("format", "json (default) or csv")],
        )
    },
    "/v1/privacy/subscribers/{msisdn}/erase": {
        "post": operation(
            "Erase the subscriber's personal data (billing and audit keep a pseudonym)",
            {"200": json_ok("What was erased"), **_NOT_FOUND},
            roles=_OFFICER,
            body=OfficerAction,
            parameters=_MSISDN,
        )
    },
    "/v1/privacy/retention": {
        "get": operation("Retention per data class (seconds)", {"200": json_ok("Retention")}, roles=_OFFICER),
        "put": operation(
            "Set retention per data class (seconds)", {"200": json_ok("Retention")}, roles=_OFFICER, body=RetentionIn
        ),
    },
}
