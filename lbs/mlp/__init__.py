"""The platform's MLP client (OMA MLP 3.x over HTTP): locate subscribers through the operator's LES.

Public API: :class:`MlpClient`, :class:`Position`, :class:`Qos`, :class:`ReportRequest`, the typed
:class:`LocationError` family, :class:`PushReceiver` / :func:`setup_push_routes` for pushed reports (with the
:class:`OpenRequests` whose req_ids they may answer), and
:class:`LocationEvent` / :class:`EventQueue` for the events billing and audit consume. See ``docs/mlp.md``.
"""

from lbs.mlp.breaker import CircuitBreaker
from lbs.mlp.client import MlpClient
from lbs.mlp.codes import ResultCode
from lbs.mlp.errors import (
    AbsentSubscriber,
    DisallowedByLocalRegulations,
    LesCongested,
    LesProtocolError,
    LesSystemFailure,
    LesTimeout,
    LesUnavailable,
    LocationError,
    PositioningNotAllowed,
    PositionMethodFailure,
    QopNotAttainable,
    UnauthorizedApplication,
    UnknownSubscriber,
)
from lbs.mlp.events import EventQueue, EventSink, LocationEvent
from lbs.mlp.models import AreaTrigger, Circle, PolygonArea, Position, PositionReport, Qos, ReportRequest
from lbs.mlp.receiver import PUSH_OPENAPI_PATHS, PUSH_RECEIVER_KEY, PushReceiver, setup_push_routes
from lbs.mlp.reqids import MemoryOpenRequests, OpenRequests, RedisOpenRequests

__all__ = [
    "PUSH_OPENAPI_PATHS",
    "PUSH_RECEIVER_KEY",
    "AbsentSubscriber",
    "AreaTrigger",
    "Circle",
    "CircuitBreaker",
    "DisallowedByLocalRegulations",
    "EventQueue",
    "EventSink",
    "LesCongested",
    "LesProtocolError",
    "LesSystemFailure",
    "LesTimeout",
    "LesUnavailable",
    "LocationError",
    "LocationEvent",
    "MemoryOpenRequests",
    "MlpClient",
    "OpenRequests",
    "PolygonArea",
    "Position",
    "PositionMethodFailure",
    "PositionReport",
    "PositioningNotAllowed",
    "PushReceiver",
    "QopNotAttainable",
    "Qos",
    "RedisOpenRequests",
    "ReportRequest",
    "ResultCode",
    "UnauthorizedApplication",
    "UnknownSubscriber",
    "setup_push_routes",
]
