"""Operational endpoints: health, metrics, the OpenAPI document."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web

from api.keys import HTTP_SESSION_KEY, MESSAGING_KEY, METRICS_KEY, PG_POOL_KEY, REDIS_KEY, SETTINGS_KEY
from api.openapi import build_document

routes = web.RouteTableDef()

# Each dependency check gets this long before /health calls it failed: a health probe must answer quickly.
HEALTH_CHECK_TIMEOUT_S = 2.0


async def _check_postgres(app: web.Application) -> None:
    await app[PG_POOL_KEY].fetchval("SELECT 1")


async def _check_redis(app: web.Application) -> None:
    await app[REDIS_KEY].ping()


async def _check_smpp(app: web.Application) -> None:
    if not app[SETTINGS_KEY].smpp_enabled:
        return
    if not app[MESSAGING_KEY].bound:
        raise RuntimeError("not bound to the SMSC")


async def _check_messaging(app: web.Application) -> None:
    """Every supervised messaging loop (bind, dispatcher, result writer, recovery) is running."""
    if not app[SETTINGS_KEY].smpp_enabled:
        return
    troubled = {name: s.describe() for name, s in app[MESSAGING_KEY].tasks().items() if not s.ok}
    if troubled:
        raise RuntimeError("; ".join(f"{name} {text}" for name, text in troubled.items()))


async def _check_les(app: web.Application) -> None:
    # Any HTTP answer proves the LES is reachable; MLP itself only answers POST.
    async with app[HTTP_SESSION_KEY].get(app[SETTINGS_KEY].les_url) as resp:
        await resp.read()


CHECKS = {
    "postgres": _check_postgres,
    "redis": _check_redis,
    "smpp": _check_smpp,
    "messaging": _check_messaging,
    "les": _check_les,
}


async def _run_check(app: web.Application, name: str) -> str:
    try:
        async with asyncio.timeout(HEALTH_CHECK_TIMEOUT_S):
            await CHECKS[name](app)
    except (TimeoutError, OSError, RuntimeError, aiohttp.ClientError) as exc:
        return f"failed: {exc!r}"
    except Exception as exc:  # a health probe reports every failure, whatever its type
        return f"failed: {exc!r}"
    return "ok"


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    """200 when PostgreSQL, Redis, the SMPP bind, the messaging loops and the LES are all well; 503 naming the
    parts that failed."""
    # The SMPP bind and the messaging loops are part of this process's health only where it runs that role.
    names = [n for n in CHECKS if n not in ("smpp", "messaging") or MESSAGING_KEY in request.app]
    results = await asyncio.gather(*(_run_check(request.app, n) for n in names))
    checks = dict(zip(names, results, strict=True))
    failed = [n for n, r in checks.items() if r != "ok"]
    body: dict[str, Any] = {"status": "ok" if not failed else "unavailable", "checks": checks}
    if failed:
        body.update({"status": 503, "code": "UNAVAILABLE", "message": f"unhealthy: {', '.join(failed)}"})
    return web.json_response(body, status=503 if failed else 200)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition format."""
    await request.app[METRICS_KEY].refresh()
    resp = web.Response(body=request.app[METRICS_KEY].render())
    resp.content_type = "text/plain"
    resp.charset = "utf-8"
    return resp


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of every endpoint."""
    return web.json_response(build_document(request.app))
