"""Typed domain values of the MLP client: positions, quality of position, triggered-report requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from lbs.mlp.codes import ResultCode

Precision = Literal["exact", "coarse"]
LocType = Literal["CURRENT", "LAST", "CURRENT_OR_LAST", "INITIAL"]
RespReq = Literal["NO_DELAY", "LOW_DELAY", "DELAY_TOL"]
Prio = Literal["NORMAL", "HIGH"]
AreaEvent = Literal["MS_ENTERING", "MS_LEAVING", "MS_WITHIN_AREA"]


@dataclass(frozen=True, slots=True)
class Position:
    """Where a subscriber was, in SRID 4326: a point and the radius (metres) it is good to."""

    lat: float
    lon: float
    accuracy_m: float
    timestamp: datetime  # aware, UTC
    method: str  # the LES's positioning method: CELL, E-CID, A-GNSS, or UNKNOWN
    precision: Precision

    def __post_init__(self) -> None:
        if self.timestamp.tzinfo is None:
            raise ValueError("Position.timestamp must be timezone-aware")


@dataclass(frozen=True, slots=True)
class Qos:
    """Quality of position asked of the LES (MLP ``eqop``, ``loc_type`` and ``prio``)."""

    hor_acc_m: int | None = None
    max_loc_age_s: int | None = None
    resp_timer_s: int | None = None
    resp_req: RespReq | None = None
    loc_type: LocType = "CURRENT"
    prio: Prio = "NORMAL"


@dataclass(frozen=True, slots=True)
class Circle:
    """A target area for change-of-area triggers: centre and radius in metres."""

    lat: float
    lon: float
    radius_m: float


@dataclass(frozen=True, slots=True)
class PolygonArea:
    """A target area for change-of-area triggers: an outer ring of (lat, lon) vertices."""

    ring: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class AreaTrigger:
    """Report when the subscriber enters, leaves or is within an area."""

    event: AreaEvent
    area: Circle | PolygonArea
    loc_estimates: bool = True


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """What a triggered location reporting request (TLRR) asks for.

    Exactly one trigger: ``interval_s`` (periodic), ``ms_avail`` or ``area``. ``msisdns`` and/or a
    ``msid_range`` (first, last) name the subscribers.
    """

    msisdns: tuple[str, ...] = ()
    msid_range: tuple[str, str] | None = None
    interval_s: int | None = None
    start_time: datetime | None = None
    stop_time: datetime | None = None
    duration_s: int | None = None
    ms_avail: bool = False
    area: AreaTrigger | None = None
    requestor: str | None = None
    qos: Qos = field(default_factory=Qos)


@dataclass(frozen=True, slots=True)
class PositionReport:
    """One position (or one positioning error) pushed by the LES in a ``slirep`` or ``tlrep``."""

    req_id: str
    msid: str
    trigger: str  # PERIODIC, MS_AVAIL, CHANGE_AREA, or SLIREP for an asynchronous SLIR answer
    position: Position | None
    result: ResultCode
