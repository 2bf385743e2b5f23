"""Device location for provider applications (CAMARA DeviceLocation r3.2 semantics), without HTTP.

:class:`DeviceLocator` runs the same chain as an SMS query: subscriber known -> the platform's location service
(consent, LES, audit, one REST location CDR). :func:`verify_circle` classifies a fix against a requested circle
(TRUE / FALSE / PARTIAL with a match rate), as location-verification v3 asks.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import asyncpg

from lbs.billing import LocationKind
from lbs.consent.decision import Precision, Purpose
from lbs.errors import NotFound, PermissionDenied, Unprocessable
from lbs.location import COARSE_ACCURACY_M, ConsentRefused, LocationService
from lbs.mlp.errors import LocationError, PositioningNotAllowed, QopNotAttainable, UnknownSubscriber
from lbs.mlp.models import Position, Qos
from lbs.pois.geo import EARTH_RADIUS_M, distance_m
from lbs.pois.store import AppRef

Api = Literal["LOCATION_RETRIEVAL", "LOCATION_VERIFICATION"]
Result = Literal["TRUE", "FALSE", "PARTIAL"]
# Where this operator's network can locate anyone (Belgium with a margin): min_lon, min_lat, max_lon, max_lat.
COVERAGE: Final = (2.3, 49.3, 6.6, 51.7)


@dataclass(frozen=True)
class Fix:
    """A disclosed position: centre, radius (m) and when it was measured."""

    lat: float
    lon: float
    radius_m: float
    at: datetime


def not_found(message: str) -> NotFound:
    return NotFound(message, code="IDENTIFIER_NOT_FOUND")


def unable(api: Api, what: str, message: str) -> Unprocessable:
    """A 422 with the API-scoped code, e.g. ``LOCATION_RETRIEVAL.UNABLE_TO_LOCATE``."""
    return Unprocessable(message, code=f"{api}.{what}")


def in_coverage(lat: float, lon: float) -> bool:
    """Whether (lat, lon) is where the network can locate devices."""
    return COVERAGE[1] <= lat <= COVERAGE[3] and COVERAGE[0] <= lon <= COVERAGE[2]


def overlap_area(d: float, r1: float, r2: float) -> float:
    """Area shared by two circles of radii ``r1``, ``r2`` whose centres are ``d`` apart (planar, metres)."""
    if d >= r1 + r2:
        return 0.0
    if d <= abs(r1 - r2):
        return math.pi * min(r1, r2) ** 2
    a1 = r1 * r1 * math.acos(max(-1.0, min(1.0, (d * d + r1 * r1 - r2 * r2) / (2 * d * r1))))
    a2 = r2 * r2 * math.acos(max(-1.0, min(1.0, (d * d + r2 * r2 - r1 * r1) / (2 * d * r2))))
    k = 0.5 * math.sqrt(max(0.0, (-d + r1 + r2) * (d + r1 - r2) * (d - r1 + r2) * (d + r1 + r2)))
    return a1 + a2 - k


def verify_circle(fix: Fix, lat: float, lon: float, radius_m: float) -> tuple[Result, int | None]:
    """TRUE when the fix's circle lies inside the requested one, FALSE when they do not meet, else PARTIAL with
    the share (1-99 %) of the fix's circle inside the requested one."""
    d = distance_m(fix.lat, fix.lon, lat, lon)
    if d + fix.radius_m <= radius_m:
        return "TRUE", None
    if d >= fix.radius_m + radius_m or d > math.pi * EARTH_RADIUS_M / 2:
        return "FALSE", None
    share = overlap_area(d, fix.radius_m, radius_m) / (math.pi * fix.radius_m**2)
    return "PARTIAL", min(99, max(1, round(share * 100)))


class DeviceLocator:
    """Device location for one provider application through :class:`lbs.location.LocationService` (consent,
    prepaid reservation, MLP, coarse enforcement, disclosure audit and one REST location CDR)."""

    def __init__(self, pool: asyncpg.Pool[Any], location: LocationService) -> None:
        self.pool, self.location = pool, location

    async def locate(
        self, api: Api, app: AppRef, msisdn: str, max_age_s: int | None, max_surface_m2: float | None = None
    ) -> Fix:
        """The device's fix at the granted precision; house errors (CAMARA codes) for every refusal.

        ``max_age_s`` 0 asks for a current position. ``max_surface_m2`` becomes the accuracy asked of the LES,
        and a coarse grant that cannot meet it is refused before anything is located or billed.
        """
        if await self.pool.fetchval("SELECT 1 FROM subscribers WHERE msisdn = $1", msisdn) is None:
            raise not_found(f"no device with phone number {msisdn}")
        radius = math.sqrt(max_surface_m2 / math.pi) if max_surface_m2 is not None else None
        if radius is not None and radius < COARSE_ACCURACY_M:
            decision = await self.location.consent.check(msisdn, app.name, Purpose.ACTIVE_LOOKUP)
            if decision.precision is Precision.COARSE:
                raise unable(api, "UNABLE_TO_FULFILL_MAX_SURFACE", "this device may be located coarsely only")
        pos = await self._position(api, app, msisdn, max_age_s, radius)
        fix = Fix(pos.lat, pos.lon, pos.accuracy_m, pos.timestamp)
        if max_age_s and (self.location.consent.clock() - fix.at).total_seconds() > max_age_s:
            raise unable(api, "UNABLE_TO_FULFILL_MAX_AGE", f"no location newer than {max_age_s} s")
        return fix

    async def _position(
        self, api: Api, app: AppRef, msisdn: str, max_age_s: int | None, radius: float | None
    ) -> Position:
        qos = Qos(
            hor_acc_m=math.floor(radius) if radius is not None else None,
            max_loc_age_s=max_age_s or None,
            loc_type="CURRENT_OR_LAST" if max_age_s else "CURRENT",
        )
        try:
            located = await self.location.locate(msisdn, app.name, Purpose.ACTIVE_LOOKUP,
                                                 request_id=f"rest:{uuid.uuid4().hex}", kind=LocationKind.REST,
                                                 qos=qos)  # fmt: skip
        except ConsentRefused as exc:
            raise PermissionDenied(f"{app.name} may not locate this device ({exc.decision.reason.value})") from exc
        except UnknownSubscriber as exc:
            raise not_found(f"no device with phone number {msisdn}") from exc
        except PositioningNotAllowed as exc:
            raise PermissionDenied("the network's privacy settings refuse this location") from exc
        except QopNotAttainable as exc:
            # The LES refuses a last fix older than max_loc_age with QoP not attainable: that is maxAge's failure.
            what = "UNABLE_TO_FULFILL_MAX_SURFACE" if radius is not None else "UNABLE_TO_LOCATE"
            if radius is None and max_age_s is not None:
                what = "UNABLE_TO_FULFILL_MAX_AGE"
            raise unable(api, what, f"the network cannot locate the device as asked ({exc.message})") from exc
        except LocationError as exc:
            # maxAge 0 asks for a fresh location: not getting one is maxAge's failure (CAMARA r3.2).
            what = "UNABLE_TO_FULFILL_MAX_AGE" if max_age_s == 0 else "UNABLE_TO_LOCATE"
            raise unable(api, what, f"the network cannot locate the device now ({exc.code})") from exc
        return located.position
