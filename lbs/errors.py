"""One error taxonomy for the whole platform.

Every error a client can see carries an HTTP ``status``, a stable machine ``code`` and a human ``message``;
the API middleware turns it into ``{"status": ..., "code": ..., "message": ...}`` (the CAMARA error shape).
"""

from __future__ import annotations

from typing import Any, ClassVar


class LbsError(Exception):
    """Base of every error that maps to a client-visible answer."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.details = details

    def to_body(self) -> dict[str, Any]:
        """The JSON body of this error."""
        body: dict[str, Any] = {"status": self.status, "code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidArgument(LbsError):
    status = 400
    code = "INVALID_ARGUMENT"


class Unauthenticated(LbsError):
    status = 401
    code = "UNAUTHENTICATED"


class PermissionDenied(LbsError):
    status = 403
    code = "PERMISSION_DENIED"


class NotFound(LbsError):
    status = 404
    code = "NOT_FOUND"


class MethodNotAllowed(LbsError):
    status = 405
    code = "METHOD_NOT_ALLOWED"


class Conflict(LbsError):
    status = 409
    code = "CONFLICT"


class PayloadTooLarge(LbsError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(LbsError):
    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


class Unprocessable(LbsError):
    status = 422
    code = "UNPROCESSABLE_ENTITY"


class ServiceUnavailable(LbsError):
    status = 503
    code = "UNAVAILABLE"


class Internal(LbsError):
    status = 500
    code = "INTERNAL"
