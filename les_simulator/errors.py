"""The emulators' control-API errors: each carries an HTTP ``status``, a machine ``code`` and a ``message``.

The control APIs (``/sim/...``) answer them as ``{"status", "code", "message"}``; the wire protocols (MLP, SMPP)
have their own result codes and never see these.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SimError(Exception):
    """Base of every error an emulator's control API answers."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]

    def to_body(self) -> dict[str, Any]:
        """The JSON body of this error."""
        return {"status": self.status, "code": self.code, "message": self.message}


class InvalidArgument(SimError):
    status = 400
    code = "INVALID_ARGUMENT"


class NotFound(SimError):
    status = 404
    code = "NOT_FOUND"


class ServiceUnavailable(SimError):
    status = 503
    code = "UNAVAILABLE"
