"""The one place where exceptions become the house JSON error shape ``{"status", "code", "message"}``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from api.keys import METRICS_KEY
from lbs.errors import Internal, LbsError, MethodNotAllowed, NotFound, PayloadTooLarge

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(err: LbsError) -> web.Response:
    return web.json_response(err.to_body(), status=err.status)


def _from_http_exception(exc: web.HTTPException) -> LbsError:
    if isinstance(exc, web.HTTPNotFound):
        return NotFound("no such resource")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        return MethodNotAllowed(f"method {exc.method} not allowed here; allowed: {allowed}")
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return PayloadTooLarge("request body too large")
    err = LbsError(exc.reason or "error", code=exc.reason.upper().replace(" ", "_") if exc.reason else "ERROR")
    err.status = exc.status  # type: ignore[misc]
    return err


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every failure to the JSON error shape; log unexpected ones with context and answer a bare 500."""
    try:
        return await handler(request)
    except LbsError as err:
        return error_response(err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_from_http_exception(exc))
    except Exception:
        log.exception("unhandled error", method=request.method, path=request.path)
        return error_response(Internal("internal error"))


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count requests and time them per route template (not per raw path: bounded label values)."""
    metrics = request.app[METRICS_KEY]
    started = time.perf_counter()
    response = await handler(request)
    route = request.match_info.route.resource
    template = route.canonical if route is not None else "unmatched"
    metrics.http_requests.labels(request.method, template, str(response.status)).inc()
    metrics.http_seconds.labels(request.method, template).observe(time.perf_counter() - started)
    return response
