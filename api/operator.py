"""Operator views of the platform's own health: the geofence workers' dead letters (and their metric)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import require
from api.keys import METRICS_KEY, REDIS_KEY, SETTINGS_KEY
from api.openapi import error, json_ok, operation, query_param
from geofences.deadletter import DeadLetters
from lbs.errors import InvalidArgument

DEAD_LETTERS = "/v1/operator/dead-letters"
MAX_LIMIT = 500


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "100")
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_LIMIT):
        raise InvalidArgument(f"limit: a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


async def dead_letters(request: web.Request) -> web.Response:
    """Operator: the newest dead letters (poison stream entries and transitions) and the totals by kind."""
    await require(request, "operator")
    letters = DeadLetters(request.app[REDIS_KEY], request.app[SETTINGS_KEY])
    latest = await letters.latest(_limit(request))
    return web.json_response({"counts": await letters.counts(), "dead_letters": [d.to_json() for d in latest]})


def setup_operator_routes(app: web.Application) -> None:
    """Add the operator views, and keep the dead-letter gauge of ``/metrics`` current at each scrape."""
    app.router.add_get(DEAD_LETTERS, dead_letters)

    async def refresh() -> None:
        counts = await DeadLetters(app[REDIS_KEY], app[SETTINGS_KEY]).counts()
        for kind, n in counts.items():
            app[METRICS_KEY].dead_letters.labels(kind).set(n)

    app[METRICS_KEY].refreshers.append(refresh)


OPENAPI_PATHS: dict[str, Any] = {
    DEAD_LETTERS: {
        "get": operation(
            "Dead letters of the geofence workers, newest first (subscribers as pseudonyms)",
            {"200": json_ok("Totals by kind and the newest dead letters"), "400": error("Invalid limit")},
            roles=("operator",),
            parameters=[query_param("limit", "How many, 1 to 500 (default 100)")],
        )
    }
}
