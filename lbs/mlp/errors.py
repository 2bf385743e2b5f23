"""Typed location errors: each carries the MLP result code that caused it.

They are :class:`lbs.errors.LbsError` subclasses, so an API handler can let them through and the platform's
middleware renders the usual ``{"status", "code", "message"}`` body.
"""

from __future__ import annotations

from typing import Any, ClassVar

from lbs.errors import LbsError
from lbs.mlp.codes import ResultCode


class LocationError(LbsError):
    """A location request that did not produce a position."""

    status: ClassVar[int] = 502
    code: ClassVar[str] = "LOCATION_ERROR"

    def __init__(self, message: str, *, result_code: ResultCode, msid: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.result_code = result_code
        self.msid = msid


class UnknownSubscriber(LocationError):
    status = 404
    code = "UNKNOWN_SUBSCRIBER"


class AbsentSubscriber(LocationError):
    """The handset is off or out of coverage."""

    status = 503
    code = "ABSENT_SUBSCRIBER"


class PositionMethodFailure(LocationError):
    status = 503
    code = "POSITION_METHOD_FAILURE"


class QopNotAttainable(LocationError):
    status = 422
    code = "QOP_NOT_ATTAINABLE"


class PositioningNotAllowed(LocationError):
    """The subscriber's privacy settings in the LES refused this application."""

    status = 403
    code = "POSITIONING_NOT_ALLOWED"


class DisallowedByLocalRegulations(LocationError):
    status = 403
    code = "DISALLOWED_BY_LOCAL_REGULATIONS"


class UnauthorizedApplication(LocationError):
    """The LES refused our client id/password."""

    status = 502
    code = "LES_UNAUTHORIZED"


class LesCongested(LocationError):
    status = 503
    code = "LES_CONGESTED"


class LesTimeout(LocationError):
    """The LES (or the network behind it) did not answer in time."""

    status = 504
    code = "LES_TIMEOUT"


class LesUnavailable(LocationError):
    """The LES could not be reached, or the circuit breaker is open after repeated failures."""

    status = 503
    code = "LES_UNAVAILABLE"


class LesProtocolError(LocationError):
    """The LES answered something that is not a usable MLP document, or rejected ours."""

    status = 502
    code = "LES_PROTOCOL_ERROR"


class LesSystemFailure(LocationError):
    status = 502
    code = "LES_SYSTEM_FAILURE"


_BY_CODE: dict[ResultCode, type[LocationError]] = {
    ResultCode.UNKNOWN_SUBSCRIBER: UnknownSubscriber,
    ResultCode.ABSENT_SUBSCRIBER: AbsentSubscriber,
    ResultCode.POSITION_METHOD_FAILURE: PositionMethodFailure,
    ResultCode.TIMEOUT: LesTimeout,
    ResultCode.QOP_NOT_ATTAINABLE: QopNotAttainable,
    ResultCode.POSITIONING_NOT_ALLOWED: PositioningNotAllowed,
    ResultCode.DISALLOWED_BY_LOCAL_REGULATIONS: DisallowedByLocalRegulations,
    ResultCode.UNAUTHORIZED_APPLICATION: UnauthorizedApplication,
    ResultCode.CONGESTION_IN_LOCATION_SERVER: LesCongested,
    ResultCode.CONGESTION_IN_MOBILE_NETWORK: LesCongested,
    ResultCode.SYSTEM_FAILURE: LesSystemFailure,
}


def error_for(code: ResultCode, add_info: str | None = None, msid: str | None = None) -> LocationError:
    """The typed error for an MLP result code (protocol errors for the 1xx request family)."""
    cls = _BY_CODE.get(code, LesProtocolError if 100 <= code < 200 else LocationError)
    detail = f": {add_info}" if add_info else ""
    return cls(f"LES answered {int(code)} {code.text}{detail}", result_code=code, msid=msid)
