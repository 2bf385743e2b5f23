"""Device location for provider applications in the shape of CAMARA DeviceLocation r3.2:
``POST /location-retrieval/v0.5/retrieve`` (location-retrieval 0.5) and ``POST /location-verification/v3/verify``
(location-verification 3.0). Both go through the subscriber's consent, the LES and billing like an SMS query.

Auth is the platform's provider API key; the application is the ``X-Application`` header, or the provider's
only application. ``x-correlator`` is echoed on every answer, errors included.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from api.auth import provider_id_of, require
from api.keys import LOCATION_KEY, PG_POOL_KEY
from api.openapi import OPENAPI_FRAGMENTS_KEY
from api.validation import parse_json
from lbs.errors import InvalidArgument, LbsError, Unprocessable
from lbs.msisdn import to_e164
from lbs.pois import store
from lbs.pois.device import Api, DeviceLocator, Fix, in_coverage, unable, verify_circle

RETRIEVE_PATH: Final = "/location-retrieval/v0.5/retrieve"
VERIFY_PATH: Final = "/location-verification/v3/verify"
CORRELATOR: Final = re.compile(r"^[a-zA-Z0-9\-_:;./<>{}]{0,256}$")
APPLICATION_HEADER: Final = "X-Application"


class Ipv4Address(BaseModel):
    """CAMARA DeviceIpv4Addr (accepted, then refused as UNSUPPORTED_IDENTIFIER). Field names are CAMARA's."""

    publicAddress: str | None = None
    privateAddress: str | None = None
    publicPort: int | None = None


class Device(BaseModel):
    """CAMARA Device: this platform locates by ``phoneNumber`` only (others are 422 UNSUPPORTED_IDENTIFIER)."""

    model_config = ConfigDict(extra="forbid")
    phoneNumber: str | None = Field(None, pattern=r"^\+[1-9][0-9]{4,14}$")
    networkAccessIdentifier: str | None = None
    ipv4Address: Ipv4Address | None = None
    ipv6Address: str | None = None


class RetrievalLocationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: Device | None = None
    maxAge: int | None = Field(None, ge=0, description="Oldest acceptable location, s (0: current)")
    maxSurface: int | None = Field(None, ge=1, description="Largest acceptable area, m²")


class Point(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class Circle(BaseModel):
    model_config = ConfigDict(extra="forbid")
    areaType: Literal["CIRCLE"]
    center: Point
    radius: int = Field(ge=1, le=200_000, description="Metres")


class VerifyLocationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: Device | None = None
    area: Circle
    maxAge: int | None = Field(None, ge=0, description="Oldest acceptable location, s (0: current)")


def phone_of(device: Device | None) -> str:
    """The E.164 number to locate, or the CAMARA 422 for a missing or unsupported identifier."""
    if device is None or not device.model_fields_set:
        raise Unprocessable("the device is not identified (no access token names it)", code="MISSING_IDENTIFIER")
    if device.phoneNumber is None:
        raise Unprocessable("this API identifies devices by phoneNumber only", code="UNSUPPORTED_IDENTIFIER")
    return to_e164(device.phoneNumber)


def _time(fix: Fix) -> str:
    return fix.at.isoformat().replace("+00:00", "Z")


async def _application(request: web.Request) -> store.AppRef:
    provider_id = provider_id_of(await require(request, "provider"))
    pool = request.app[PG_POOL_KEY]
    name = request.headers.get(APPLICATION_HEADER)
    return await (store.app_by_name(pool, name, provider_id) if name else store.only_app_of(pool, provider_id))


def _locator(request: web.Request) -> DeviceLocator:
    return DeviceLocator(request.app[PG_POOL_KEY], request.app[LOCATION_KEY])


async def _fix(request: web.Request, api: Api, device: Device | None, max_age: int | None,
               max_surface: int | None = None) -> Fix:  # fmt: skip
    app = await _application(request)
    return await _locator(request).locate(api, app, phone_of(device), max_age, max_surface)


async def retrieve(request: web.Request) -> web.Response:
    """Where is this device: a circle (centre, radius) and when it was measured."""
    body = await parse_json(request, RetrievalLocationRequest)
    fix = await _fix(request, "LOCATION_RETRIEVAL", body.device, body.maxAge, body.maxSurface)
    area = {"areaType": "CIRCLE", "center": {"latitude": fix.lat, "longitude": fix.lon},
            "radius": math.ceil(fix.radius_m)}  # fmt: skip
    return web.json_response({"lastLocationTime": _time(fix), "area": area})


async def verify(request: web.Request) -> web.Response:
    """Is this device within this circle: TRUE, FALSE or PARTIAL with a match rate."""
    body = await parse_json(request, VerifyLocationRequest)
    centre = body.area.center
    if not in_coverage(centre.latitude, centre.longitude):
        raise unable("LOCATION_VERIFICATION", "AREA_NOT_COVERED", "the area is outside this network's coverage")
    fix = await _fix(request, "LOCATION_VERIFICATION", body.device, body.maxAge)
    result, rate = verify_circle(fix, centre.latitude, centre.longitude, body.area.radius)
    out: dict[str, Any] = {"verificationResult": result, "lastLocationTime": _time(fix)}
    if rate is not None:
        out["matchRate"] = rate
    return web.json_response(out)


Handler = Callable[[web.Request], Awaitable[web.Response]]


def with_correlator(handler: Handler) -> Handler:
    """Check and echo ``x-correlator``; render errors here so they carry it too."""

    async def wrapped(request: web.Request) -> web.Response:
        correlator = request.headers.get("x-correlator")
        valid = correlator is not None and CORRELATOR.match(correlator) is not None
        try:
            if correlator is not None and not valid:
                raise InvalidArgument("x-correlator must be at most 256 of [a-zA-Z0-9-_:;./<>{}]")
            response = await handler(request)
        except LbsError as err:
            response = web.json_response(err.to_body(), status=err.status)
        if valid and correlator is not None:
            response.headers["x-correlator"] = correlator
        return response

    return wrapped


def setup_camara_routes(app: web.Application) -> None:
    """Add the two CAMARA routes (and their OpenAPI paths to the app's fragments when that list exists)."""
    app.router.add_post(RETRIEVE_PATH, with_correlator(retrieve))
    app.router.add_post(VERIFY_PATH, with_correlator(verify))
    fragments = app.get(OPENAPI_FRAGMENTS_KEY)
    if fragments is not None and OPENAPI_PATHS not in fragments:
        fragments.append(OPENAPI_PATHS)


def _error(description: str, *codes: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Error"}
    return {
        "description": f"{description} (code: {', '.join(codes)})",
        "content": {"application/json": {"schema": schema}},
    }


_HEADERS: Final = [
    {"name": "x-correlator", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 256},
     "description": "Echoed in the response"},
    {"name": APPLICATION_HEADER, "in": "header", "required": False, "schema": {"type": "string"},
     "description": "Application locating (optional when the provider has one)"},
]  # fmt: skip
_COMMON: Final = {
    "400": _error("Invalid body or x-correlator", "INVALID_ARGUMENT"),
    "401": _error("Missing or invalid API key", "UNAUTHENTICATED"),
    "403": _error("No consent from the subscriber, or a non-provider key", "PERMISSION_DENIED"),
    "404": _error("No such device (or application)", "IDENTIFIER_NOT_FOUND", "NOT_FOUND"),
}


def _op(summary: str, body: type[BaseModel], ok: dict[str, Any], errors: dict[str, Any]) -> dict[str, Any]:
    return {
        "summary": summary,
        "tags": ["Device location (CAMARA r3.2)"],
        "security": [{"bearer": []}],
        "parameters": _HEADERS,
        "requestBody": {"required": True, "content": {"application/json": {"schema": body.model_json_schema()}}},
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": ok}}}, **_COMMON,
                      **errors},
    }  # fmt: skip


_CIRCLE_OUT: Final = {"type": "object", "properties": {"areaType": {"const": "CIRCLE"}, "center": {"type": "object"},
                                                        "radius": {"type": "integer"}}}  # fmt: skip
OPENAPI_PATHS: Final[dict[str, Any]] = {
    RETRIEVE_PATH: {"post": _op(
        "Retrieve the location of a device (location-retrieval 0.5)", RetrievalLocationRequest,
        {"type": "object", "required": ["lastLocationTime", "area"],
         "properties": {"lastLocationTime": {"type": "string", "format": "date-time"}, "area": _CIRCLE_OUT}},
        {"422": _error("Cannot answer", "MISSING_IDENTIFIER", "UNSUPPORTED_IDENTIFIER",
                       "LOCATION_RETRIEVAL.UNABLE_TO_LOCATE", "LOCATION_RETRIEVAL.UNABLE_TO_FULFILL_MAX_AGE",
                       "LOCATION_RETRIEVAL.UNABLE_TO_FULFILL_MAX_SURFACE")},
    )},
    VERIFY_PATH: {"post": _op(
        "Verify that a device is within a circle (location-verification 3.0)", VerifyLocationRequest,
        {"type": "object", "required": ["verificationResult"],
         "properties": {"verificationResult": {"enum": ["TRUE", "FALSE", "PARTIAL"]},
                        "matchRate": {"type": "integer", "minimum": 1, "maximum": 99},
                        "lastLocationTime": {"type": "string", "format": "date-time"}}},
        {"422": _error("Cannot answer", "MISSING_IDENTIFIER", "UNSUPPORTED_IDENTIFIER",
                       "LOCATION_VERIFICATION.AREA_NOT_COVERED", "LOCATION_VERIFICATION.UNABLE_TO_LOCATE",
                       "LOCATION_VERIFICATION.UNABLE_TO_FULFILL_MAX_AGE")},
    )},
}  # fmt: skip
