"""CAMARA geofencing-subscriptions v0.5 (DeviceLocation r3.2): area-entered / area-left for a device and a circle.

``POST/GET /geofencing-subscriptions/v0.5/subscriptions``, ``GET/DELETE .../{subscriptionId}``, for provider keys.
The events go to the sink as CloudEvents 1.0 from a durable outbox (see :mod:`geofences.camara`). Deviations:

- the caller is a provider API key; the application whose consent applies is the provider's only application, or
  the one named in the ``X-Application`` header;
- ``https`` sinks only, unless ``geofence_camara_loopback_http`` allows ``http`` to loopback hosts (tests, demo);
- ``initialEvent`` is stored; the device's first report after creation yields ``area-entered`` when it is inside,
  whatever the flag (the platform keeps no last position to answer at once).
"""

from __future__ import annotations

import json
from typing import Any, Literal
from urllib.parse import urlsplit

import asyncpg
from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.auth import provider_id_of, require
from api.keys import CLOCK_KEY, PG_POOL_KEY, SETTINGS_KEY
from api.validation import parse_json
from geofences import camara
from lbs.consent import registry
from lbs.consent.decision import Purpose
from lbs.errors import InvalidArgument, NotFound, PermissionDenied
from lbs.msisdn import to_e164
from lbs.settings import Settings

BASE = "/geofencing-subscriptions/v0.5/subscriptions"
ITEM = BASE + "/{subscriptionId}"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class Center(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latitude: float = Field(ge=-85, le=85)
    longitude: float = Field(ge=-180, le=180)


class Area(BaseModel):
    model_config = ConfigDict(extra="forbid")
    areaType: Literal["CIRCLE"]
    center: Center
    radius: float = Field(gt=0)


class Device(BaseModel):
    model_config = ConfigDict(extra="allow")
    phoneNumber: str = Field(pattern=r"^\+[1-9][0-9]{4,14}$")


class Detail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: Device
    area: Area


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subscriptionDetail: Detail
    subscriptionExpireTime: AwareDatetime | None = None
    subscriptionMaxEvents: int | None = Field(None, ge=1)
    initialEvent: bool = False


class SinkCredential(BaseModel):
    model_config = ConfigDict(extra="allow")
    credentialType: Literal["ACCESSTOKEN", "PLAIN"]
    accessToken: str | None = None
    accessTokenType: Literal["bearer"] | None = None
    identifier: str | None = None
    secret: str | None = None


class SubscriptionRequest(BaseModel):
    """CAMARA's SubscriptionRequest (HTTP protocol)."""

    model_config = ConfigDict(extra="forbid")
    protocol: Literal["HTTP"] = "HTTP"
    sink: str = Field(max_length=2048)
    types: list[Literal[camara.AREA_ENTERED, camara.AREA_LEFT]] = Field(min_length=1, max_length=2)  # type: ignore[valid-type]
    config: Config
    sinkCredential: SinkCredential | None = None


def check_sink(sink: str, settings: Settings) -> str:
    """https, or http to a loopback host when the setting allows it."""
    parts = urlsplit(sink)
    if parts.scheme == "https" and parts.hostname:
        return sink
    if parts.scheme == "http" and settings.geofence_camara_loopback_http and parts.hostname in LOOPBACK:
        return sink
    raise InvalidArgument("sink: must be an https URL", code="INVALID_SINK")


def _credential(body: SubscriptionRequest) -> dict[str, Any] | None:
    cred = body.sinkCredential
    if cred is None:
        return None
    if cred.credentialType == "ACCESSTOKEN" and not cred.accessToken:
        raise InvalidArgument("sinkCredential: ACCESSTOKEN needs accessToken")
    if cred.credentialType == "PLAIN" and not cred.secret:
        raise InvalidArgument("sinkCredential: PLAIN needs secret (used for the HMAC-SHA256 X-Signature)")
    return cred.model_dump(exclude_none=True)


def _out(row: asyncpg.Record) -> dict[str, Any]:
    config: dict[str, Any] = {
        "subscriptionDetail": {"device": {"phoneNumber": row["msisdn"]}, "area": camara.area_of(row)},
        "initialEvent": row["initial_event"],
    }
    if row["max_events"] is not None:
        config["subscriptionMaxEvents"] = row["max_events"]
    if row["expires_at"] is not None:
        config["subscriptionExpireTime"] = row["expires_at"].isoformat()
    types = row["types"] if isinstance(row["types"], list) else json.loads(row["types"])
    out = {
        "id": row["public_id"],
        "protocol": "HTTP",
        "sink": row["sink"],
        "types": types,
        "config": config,
        "startsAt": row["created_at"].isoformat(),
        "status": row["status"],
    }
    if row["expires_at"] is not None:
        out["expiresAt"] = row["expires_at"].isoformat()
    return out


async def _application(request: web.Request, provider_id: int) -> tuple[int, str]:
    rows = await request.app[PG_POOL_KEY].fetch(
        "SELECT id, name FROM applications WHERE provider_id = $1 ORDER BY id", provider_id
    )
    wanted = request.headers.get("X-Application", "").upper()
    chosen = [r for r in rows if r["name"] == wanted] if wanted else rows
    if len(chosen) != 1:
        raise InvalidArgument("name the application in the X-Application header (one of yours)")
    return int(chosen[0]["id"]), str(chosen[0]["name"])


async def create_subscription(request: web.Request) -> web.Response:
    """Create a subscription: 201 with it, and a subscription-started event to the sink."""
    provider_id = provider_id_of(await require(request, "provider"))
    settings = request.app[SETTINGS_KEY]
    body = await parse_json(request, SubscriptionRequest)
    detail = body.config.subscriptionDetail
    if not settings.geofence_min_radius_m <= detail.area.radius <= settings.geofence_max_radius_m:
        raise InvalidArgument("config.subscriptionDetail.area.radius: out of range", code="OUT_OF_RANGE")
    now = request.app[CLOCK_KEY]()
    if body.config.subscriptionExpireTime is not None and body.config.subscriptionExpireTime <= now:
        raise InvalidArgument("config.subscriptionExpireTime: in the past")
    msisdn = to_e164(detail.device.phoneNumber)
    app_id, app_name = await _application(request, provider_id)
    pool = request.app[PG_POOL_KEY]
    async with pool.acquire() as conn, conn.transaction():
        if not (await registry.check(conn, msisdn, app_name, Purpose.GEOFENCING, now)).allowed:
            raise PermissionDenied("the device's user has not allowed geofencing for this application")
        row = await conn.fetchrow(
            "INSERT INTO geofencing_subscriptions (public_id, provider_id, application_id, msisdn, lon, lat, radius_m,"
            " types, sink, credential, initial_event, max_events, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
            " $9, $10, $11, $12, $13) RETURNING *",
            camara.new_public_id(),
            provider_id,
            app_id,
            msisdn,
            detail.area.center.longitude,
            detail.area.center.latitude,
            detail.area.radius,
            json.dumps(body.types),
            check_sink(body.sink, settings),
            json.dumps(_credential(body)),
            body.config.initialEvent,
            body.config.subscriptionMaxEvents,
            body.config.subscriptionExpireTime,
        )
        assert row is not None
        await camara.enqueue(conn, row, camara.STARTED, {}, f"{row['public_id']}:started", now)
    return web.json_response(_out(row), status=201)


async def _own(request: web.Request) -> asyncpg.Record:
    provider_id = provider_id_of(await require(request, "provider"))
    row = await request.app[PG_POOL_KEY].fetchrow(
        "SELECT * FROM geofencing_subscriptions WHERE public_id = $1 AND provider_id = $2 AND status <> 'DELETED'",
        request.match_info["subscriptionId"],
        provider_id,
    )
    if row is None:
        raise NotFound(f"no subscription {request.match_info['subscriptionId']!r}", code="IDENTIFIER_NOT_FOUND")
    found: asyncpg.Record = row
    return found


async def list_subscriptions(request: web.Request) -> web.Response:
    """The provider's subscriptions (not the deleted ones)."""
    provider_id = provider_id_of(await require(request, "provider"))
    rows = await request.app[PG_POOL_KEY].fetch(
        "SELECT * FROM geofencing_subscriptions WHERE provider_id = $1 AND status <> 'DELETED' ORDER BY id",
        provider_id,
    )
    return web.json_response([_out(r) for r in rows])


async def get_subscription(request: web.Request) -> web.Response:
    """One subscription."""
    return web.json_response(_out(await _own(request)))


async def delete_subscription(request: web.Request) -> web.Response:
    """Delete: 204, and a subscription-ended event (SUBSCRIPTION_DELETED)."""
    row = await _own(request)
    async with request.app[PG_POOL_KEY].acquire() as conn, conn.transaction():
        await camara.end(conn, row, "DELETED", "SUBSCRIPTION_DELETED", request.app[CLOCK_KEY]())
        await conn.execute(
            "UPDATE geofencing_subscriptions SET status = 'DELETED', updated_at = clock_timestamp() WHERE id = $1",
            row["id"],
        )
    return web.Response(status=204)


def setup_camara_geofencing_routes(app: web.Application) -> None:
    """Add the CAMARA geofencing-subscriptions routes."""
    app.router.add_post(BASE, create_subscription)
    app.router.add_get(BASE, list_subscriptions)
    app.router.add_get(ITEM, get_subscription)
    app.router.add_delete(ITEM, delete_subscription)


_ERROR = {"$ref": "#/components/schemas/Error"}


def _op(summary: str, ok: str, errors: dict[str, str], body: bool = False) -> dict[str, Any]:
    responses: dict[str, Any] = {ok: {"description": summary}}
    if ok != "204":
        responses[ok]["content"] = {"application/json": {"schema": {"type": "object"}}}
    all_errors = {**errors, "401": "Missing or invalid API key", "403": "Not a provider key, or no consent"}
    for status, text in all_errors.items():
        responses[status] = {"description": text, "content": {"application/json": {"schema": _ERROR}}}
    op: dict[str, Any] = {
        "tags": ["CAMARA geofencing-subscriptions v0.5"],
        "summary": summary,
        "security": [{"bearer": []}],
        "responses": responses,
    }
    if body:
        schema = SubscriptionRequest.model_json_schema()
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    return op


OPENAPI_PATHS: dict[str, Any] = {
    BASE: {
        "post": _op("Create a geofencing subscription", "201", {"400": "Invalid request or sink"}, body=True),
        "get": _op("The provider's subscriptions", "200", {}),
    },
    ITEM: {
        "get": _op("One subscription", "200", {"404": "No such subscription"}),
        "delete": _op("Delete a subscription (subscription-ended is sent)", "204", {"404": "No such subscription"}),
    },
}
