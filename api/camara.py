"""Device location for provider applications in the shape of CAMARA DeviceLocation r3.2:
``POST /location-retrieval/v0.5/retrieve`` (location-retrieval 0.5.0) and ``POST /location-verification/v3/verify``
(location-verification 3.0.0). Both go through the subscriber's consent, the LES and billing like an SMS query.

The caller is a provider API key with the operation's scope (the application: ``X-Application``, or the provider's
only one), or a device access token (:mod:`api.oauth`) that names the application and the device, in which case
the body names no device. ``x-correlator`` is echoed on every answer, errors included. The contract is the
vendored YAML (:mod:`api.camara_spec`), which also documents these paths in ``/openapi.json``.
"""

from __future__ import annotations

import math
from typing import Any, Final, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from api import camara_spec
from api.auth import CamaraCaller, require_scope
from api.camara_common import Device, application, subject, with_correlator
from api.keys import LOCATION_KEY, PG_POOL_KEY
from api.openapi import OPENAPI_FRAGMENTS_KEY
from api.validation import parse_json
from lbs.oauth import tokens
from lbs.pois.device import Api, DeviceLocator, Fix, in_coverage, unable, verify_circle

RETRIEVE_PATH: Final = "/location-retrieval/v0.5/retrieve"
VERIFY_PATH: Final = "/location-verification/v3/verify"
# The smallest circle verification answers for: below it a PARTIAL says nothing (cell fixes are hundreds of metres).
MIN_VERIFY_RADIUS_M: Final = 10


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
    radius: float = Field(ge=1, le=200_000, description="Metres")


class VerifyLocationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: Device | None = None
    area: Circle
    maxAge: int | None = Field(None, ge=0, description="Oldest acceptable location, s (0: current)")


def _time(fix: Fix) -> str:
    return fix.at.isoformat().replace("+00:00", "Z")


async def _fix(request: web.Request, api: Api, caller: CamaraCaller, device: Device | None, max_age: int | None,
               max_surface: int | None = None) -> Fix:  # fmt: skip
    msisdn, _ = subject(caller, device)
    app = await application(request, caller)
    locator = DeviceLocator(request.app[PG_POOL_KEY], request.app[LOCATION_KEY])
    return await locator.locate(api, app, msisdn, max_age, max_surface)


async def retrieve(request: web.Request) -> web.Response:
    """Where is this device: a circle (centre, radius) and when it was measured."""
    caller = await require_scope(request, tokens.RETRIEVE)
    body = await parse_json(request, RetrievalLocationRequest)
    fix = await _fix(request, "LOCATION_RETRIEVAL", caller, body.device, body.maxAge, body.maxSurface)
    area = {"areaType": "CIRCLE", "center": {"latitude": fix.lat, "longitude": fix.lon},
            "radius": math.ceil(fix.radius_m)}  # fmt: skip
    return web.json_response({"lastLocationTime": _time(fix), "area": area})


async def verify(request: web.Request) -> web.Response:
    """Is this device within this circle: TRUE, FALSE or PARTIAL with a match rate."""
    caller = await require_scope(request, tokens.VERIFY)
    body = await parse_json(request, VerifyLocationRequest)
    centre = body.area.center
    if not in_coverage(centre.latitude, centre.longitude):
        raise unable("LOCATION_VERIFICATION", "AREA_NOT_COVERED", "Unable to cover the requested area")
    if body.area.radius < MIN_VERIFY_RADIUS_M:
        raise unable("LOCATION_VERIFICATION", "INVALID_AREA",
                     f"The requested area is too small (radius at least {MIN_VERIFY_RADIUS_M} m)")  # fmt: skip
    fix = await _fix(request, "LOCATION_VERIFICATION", caller, body.device, body.maxAge)
    result, rate = verify_circle(fix, centre.latitude, centre.longitude, body.area.radius)
    out: dict[str, Any] = {"verificationResult": result, "lastLocationTime": _time(fix)}
    if rate is not None:
        out["matchRate"] = rate
    return web.json_response(out)


def setup_camara_routes(app: web.Application) -> None:
    """Add the two CAMARA routes (and their OpenAPI paths to the app's fragments when that list exists)."""
    app.router.add_post(RETRIEVE_PATH, with_correlator(retrieve))
    app.router.add_post(VERIFY_PATH, with_correlator(verify))
    fragments = app.get(OPENAPI_FRAGMENTS_KEY)
    if fragments is not None and OPENAPI_PATHS not in fragments:
        fragments.append(OPENAPI_PATHS)


OPENAPI_PATHS: Final[dict[str, Any]] = {
    **camara_spec.paths("location-retrieval"),
    **camara_spec.paths("location-verification"),
}
