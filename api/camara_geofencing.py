"""CAMARA geofencing-subscriptions 0.5.0 (DeviceLocation r3.2): area-entered or area-left for a device and a circle.

``POST/GET /geofencing-subscriptions/v0.5/subscriptions``, ``GET/DELETE .../{subscriptionId}``. The caller is a
provider API key with the operation's scope (the application: ``X-Application``, or the provider's only one), or a
device access token, which names the application and the device (the body then names none, and responses and
events leave the device out). Subscriptions are created synchronously (201); the events go to the sink as
CloudEvents 1.0 from a durable outbox (see :mod:`geofences.camara`). Choices where r3.2 leaves one:

- one event type per subscription (the YAML's ``maxItems: 1``): two are 422 MULTIEVENT_SUBSCRIPTION_NOT_SUPPORTED;
- ``https`` sinks only, unless ``geofence_camara_loopback_http`` allows ``http`` to loopback hosts (tests, demo);
- circles between ``geofence_min_radius_m`` and ``geofence_max_radius_m`` (else 422 INVALID_AREA), centred in the
  network's coverage (else 422 AREA_NOT_COVERED);
- sink credentials ``ACCESSTOKEN`` (bearer) and ``PLAIN`` (an HMAC-SHA256 ``X-Signature``);
- at creation the device's last known position is asked of the LES (consent-checked and billed as a REST
  location): it answers ``initialEvent`` and starts the workers from the right side of the edge.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Final, Literal

import asyncpg
from aiohttp import web
from aiohttp.resolver import ThreadedResolver
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api import camara_spec
from api.auth import CamaraCaller, camara_caller, clock_of, need
from api.camara_common import Device, application, subject, with_correlator
from api.keys import LOCATION_KEY, OUTBOUND_RESOLVER_KEY, PG_POOL_KEY, REDIS_KEY, SETTINGS_KEY
from api.validation import parse_json
from geofences import camara
from lbs import outbound
from lbs.billing import LocationKind
from lbs.consent import registry
from lbs.consent.decision import Purpose
from lbs.errors import InvalidArgument, NotFound, PermissionDenied, Unprocessable
from lbs.location import ConsentRefused
from lbs.mlp.errors import LocationError
from lbs.mlp.models import Position, Qos
from lbs.oauth import tokens
from lbs.pois.device import in_coverage
from lbs.pois.geo import distance_m
from lbs.pois.store import AppRef
from lbs.settings import Settings

BASE: Final = "/geofencing-subscriptions/v0.5/subscriptions"
ITEM: Final = BASE + "/{subscriptionId}"
# The YAML's example texts for 422.1/422.2 (the Gherkin checks the message contains them).
NOT_COVERED: Final = "Unable to cover the requested area"
TOO_SMALL: Final = "The requested area is too small"


class Center(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class Area(BaseModel):
    model_config = ConfigDict(extra="forbid")
    areaType: Literal["CIRCLE"]
    center: Center
    radius: float = Field(ge=1)


class Detail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: Device | None = None
    area: Area


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subscriptionDetail: Detail
    subscriptionExpireTime: AwareDatetime | None = None
    subscriptionMaxEvents: int | None = Field(None, ge=1)
    initialEvent: bool = False


class SinkCredential(BaseModel):
    model_config = ConfigDict(extra="allow")
    credentialType: str
    accessToken: str | None = None
    accessTokenType: str | None = None
    accessTokenExpiresUtc: AwareDatetime | None = None
    identifier: str | None = None
    secret: str | None = None


class SubscriptionRequest(BaseModel):
    """CAMARA's SubscriptionRequest; protocol and credential are checked after parsing, for their own codes."""

    model_config = ConfigDict(extra="forbid")
    protocol: str
    sink: str = Field(max_length=2048)
    types: list[str] = Field(min_length=1)
    config: Config
    sinkCredential: SinkCredential | None = None
    protocolSettings: dict[str, Any] | None = None


def check_sink(sink: str, settings: Settings) -> str:
    """https to a public host (:func:`lbs.outbound.check_url`); http and loopback only in dev mode."""
    try:
        return outbound.check_url(sink, outbound.Policy.from_settings(settings))
    except ValueError as exc:
        raise InvalidArgument(f"sink: {exc}", code="INVALID_SINK") from exc


async def check_sink_resolves(request: web.Request, sink: str) -> None:
    """The sink's name resolves to public addresses only (checked again at every connection)."""
    policy = outbound.Policy.from_settings(request.app[SETTINGS_KEY])
    resolver = request.app.get(OUTBOUND_RESOLVER_KEY) or ThreadedResolver()
    try:
        await outbound.check_resolves(sink, policy, resolver)
    except ValueError as exc:
        raise InvalidArgument(f"sink: {exc}", code="INVALID_SINK") from exc


def check_types(types: list[str]) -> str:
    """The one event type subscribed to."""
    unknown = [t for t in types if t not in camara.AREA_TYPES]
    if unknown:
        raise InvalidArgument(f"types: unknown event type {unknown[0]!r}")
    if len(set(types)) > 1:
        raise Unprocessable("one event type per subscription", code="MULTIEVENT_SUBSCRIPTION_NOT_SUPPORTED")
    return types[0]


def check_credential(cred: SinkCredential | None) -> dict[str, Any] | None:
    """The credential to store: ACCESSTOKEN (bearer) or PLAIN (identifier and secret)."""
    if cred is None:
        return None
    if cred.credentialType == "ACCESSTOKEN":
        if cred.accessTokenType != "bearer":
            raise InvalidArgument("sinkCredential.accessTokenType: only bearer is supported", code="INVALID_TOKEN")
        if not cred.accessToken:
            raise InvalidArgument("sinkCredential: ACCESSTOKEN needs accessToken", code="INVALID_CREDENTIAL")
    elif cred.credentialType == "PLAIN":
        if not cred.secret or not cred.identifier:
            raise InvalidArgument("sinkCredential: PLAIN needs identifier and secret", code="INVALID_CREDENTIAL")
    else:
        raise InvalidArgument("sinkCredential: only ACCESSTOKEN and PLAIN are supported", code="INVALID_CREDENTIAL")
    return cred.model_dump(mode="json", exclude_none=True)


def check_area(area: Area, settings: Settings) -> None:
    """422 for a centre outside coverage or a radius outside what the workers take."""
    if not in_coverage(area.center.latitude, area.center.longitude):
        raise Unprocessable(NOT_COVERED, code="GEOFENCING_SUBSCRIPTIONS.AREA_NOT_COVERED")
    if area.radius < settings.geofence_min_radius_m:
        raise Unprocessable(f"{TOO_SMALL} (radius at least {settings.geofence_min_radius_m:g} m)",
                            code="GEOFENCING_SUBSCRIPTIONS.INVALID_AREA")  # fmt: skip
    if area.radius > settings.geofence_max_radius_m:
        raise Unprocessable(f"The requested area is too large (radius at most {settings.geofence_max_radius_m:g} m)",
                            code="GEOFENCING_SUBSCRIPTIONS.INVALID_AREA")  # fmt: skip


def check_request(body: SubscriptionRequest, settings: Settings, now: datetime) -> tuple[str, dict[str, Any] | None]:
    """Everything a request is refused for before anyone is looked up: (event type, credential to store)."""
    if body.protocol != "HTTP":
        raise InvalidArgument("protocol: only HTTP is supported", code="INVALID_PROTOCOL")
    kind = check_types(body.types)
    credential = check_credential(body.sinkCredential)
    check_sink(body.sink, settings)
    expire = body.config.subscriptionExpireTime
    if expire is not None and expire <= now:
        raise InvalidArgument("config.subscriptionExpireTime: in the past")
    check_area(body.config.subscriptionDetail.area, settings)
    return kind, credential


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _out(row: asyncpg.Record) -> dict[str, Any]:
    detail: dict[str, Any] = {"area": camara.area_of(row)}
    device = camara.device_of(row)
    if device:
        detail["device"] = device
    config: dict[str, Any] = {"subscriptionDetail": detail, "initialEvent": row["initial_event"]}
    if row["max_events"] is not None:
        config["subscriptionMaxEvents"] = row["max_events"]
    if row["expires_at"] is not None:
        config["subscriptionExpireTime"] = _iso(row["expires_at"])
    types = row["types"] if isinstance(row["types"], list) else json.loads(row["types"])
    out = {"id": row["public_id"], "protocol": "HTTP", "sink": row["sink"], "types": types, "config": config,
           "startsAt": _iso(row["created_at"]), "status": row["status"]}  # fmt: skip
    if row["expires_at"] is not None:
        out["expiresAt"] = _iso(row["expires_at"])
    return out


async def _last_position(request: web.Request, app: AppRef, msisdn: str) -> Position | None:
    """The LES's last known position of the device (billed, audited), or None when the network has none."""
    try:
        located = await request.app[LOCATION_KEY].locate(
            msisdn, app.name, Purpose.GEOFENCING, request_id=f"camara-gf:{uuid.uuid4().hex}",
            kind=LocationKind.REST, qos=Qos(loc_type="CURRENT_OR_LAST"),
        )  # fmt: skip
    except ConsentRefused as exc:
        raise PermissionDenied("the device's user has not allowed geofencing for this application") from exc
    except LocationError:
        return None
    return located.position


async def create_subscription(request: web.Request) -> web.Response:
    """Create a subscription: 201 with it, subscription-started (and the initial event) to the sink."""
    caller = await camara_caller(request)
    settings, pool = request.app[SETTINGS_KEY], request.app[PG_POOL_KEY]
    body = await parse_json(request, SubscriptionRequest)
    now = clock_of(request.app)()
    kind, credential = check_request(body, settings, now)
    await check_sink_resolves(request, body.sink)
    need(caller, tokens.create_scope(kind))
    detail = body.config.subscriptionDetail
    msisdn, named = subject(caller, detail.device)
    if not await camara.known_device(pool, msisdn):
        raise NotFound(f"no device with phone number {msisdn}", code="IDENTIFIER_NOT_FOUND")
    app = await application(request, caller)
    async with pool.acquire() as conn:
        allowed = (await registry.check(conn, msisdn, app.name, Purpose.GEOFENCING, now)).allowed
    if not allowed:
        raise PermissionDenied("the device's user has not allowed geofencing for this application")
    position = await _last_position(request, app, msisdn)
    centre = detail.area.center
    inside = position is not None and distance_m(position.lat, position.lon, centre.latitude,
                                                 centre.longitude) <= detail.area.radius  # fmt: skip
    values = {
        "public_id": camara.new_public_id(), "provider_id": caller.provider_id, "application_id": app.id,
        "msisdn": msisdn, "lon": centre.longitude, "lat": centre.latitude, "radius_m": detail.area.radius,
        "types": json.dumps([kind]), "sink": body.sink, "credential": json.dumps(credential),
        "initial_event": body.config.initialEvent, "max_events": body.config.subscriptionMaxEvents,
        "expires_at": body.config.subscriptionExpireTime, "device_in_request": named,
    }  # fmt: skip
    async with pool.acquire() as conn, conn.transaction():
        row = await camara.insert(conn, values)
        await camara.started(conn, row, now)
        if position is not None:
            await camara.initial(conn, row, inside, now)
    if inside and position is not None:
        await camara.seed_presence(request.app[REDIS_KEY], settings, row, position.timestamp)
    fresh = await camara.find(pool, row["public_id"], caller.provider_id, None)
    return web.json_response(_out(fresh or row), status=201)


async def _own(request: web.Request, caller: CamaraCaller) -> asyncpg.Record:
    public_id = request.match_info["subscriptionId"]
    row = await camara.find(request.app[PG_POOL_KEY], public_id, caller.provider_id, caller.device)
    if row is None:
        raise NotFound(f"no subscription {public_id!r}")
    return row


async def list_subscriptions(request: web.Request) -> web.Response:
    """The provider's subscriptions (not the deleted ones); with a device token, its device's only."""
    caller = await camara_caller(request)
    need(caller, tokens.GEOFENCING_READ)
    rows = await camara.list_of(request.app[PG_POOL_KEY], caller.provider_id, caller.device)
    return web.json_response([_out(r) for r in rows])


async def get_subscription(request: web.Request) -> web.Response:
    """One subscription."""
    caller = await camara_caller(request)
    need(caller, tokens.GEOFENCING_READ)
    return web.json_response(_out(await _own(request, caller)))


async def delete_subscription(request: web.Request) -> web.Response:
    """Delete: 204, and a subscription-ended event (SUBSCRIPTION_DELETED)."""
    caller = await camara_caller(request)
    need(caller, tokens.GEOFENCING_DELETE)
    row = await _own(request, caller)
    async with request.app[PG_POOL_KEY].acquire() as conn, conn.transaction():
        await camara.delete(conn, row, clock_of(request.app)())
    return web.Response(status=204)


def setup_camara_geofencing_routes(app: web.Application) -> None:
    """Add the CAMARA geofencing-subscriptions routes (x-correlator checked and echoed on all of them)."""
    app.router.add_post(BASE, with_correlator(create_subscription))
    app.router.add_get(BASE, with_correlator(list_subscriptions))
    app.router.add_get(ITEM, with_correlator(get_subscription))
    app.router.add_delete(ITEM, with_correlator(delete_subscription))


OPENAPI_PATHS: Final[dict[str, Any]] = camara_spec.paths("geofencing-subscriptions")
