"""Géo Présence for providers: geofenced promotions (CRUD, pause/resume) and their reports.

A provider's key sees only its own promotions (another provider's is 404). The fence is validated by
:func:`geofences.model.parse_shape` (RFC 7946, GEOS validity with its reason, size limits, antimeridian refused).
Every change moves ``updated_at``; geofence workers poll for changes, so an edit takes effect without a restart.
DELETE keeps the row (status ``deleted``) so its report stays readable.
"""

from __future__ import annotations

import json
from datetime import time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from api.auth import clock_of, provider_id_of, require
from api.keys import PG_POOL_KEY, SETTINGS_KEY
from api.validation import parse_json, read_json, validate, whole_number
from geofences.config import limits_from
from geofences.model import parse_shape, shape_to_geojson
from geofences.promotions import COLUMNS, FROM, check_brand, check_sender, counters
from geofences.rules import check_template
from lbs.errors import InvalidArgument, NotFound
from lbs.messaging.outbox import validate_source

BASE = "/v1/promotions"
ITEM = BASE + "/{promotion_id}"


class Cap(BaseModel):
    """At most ``count`` messages per subscriber per promotion, or per (local) day."""

    model_config = ConfigDict(extra="forbid")
    count: int = Field(1, ge=1, le=1000)
    period: Literal["promotion", "day"] = "promotion"


class PromotionIn(BaseModel):
    """A geofenced promotion as a provider registers it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=80)
    application: str = Field(pattern=r"^[A-Z0-9]{2,20}$", description="One of the provider's applications.")
    brand: str = Field(pattern=r"^[A-Za-z0-9]{2,20}$", description="Brand for STOP <BRAND> and the daily cap.")
    shop: str = Field("", max_length=80)
    fence: dict[str, Any] = Field(description="GeoJSON Polygon/MultiPolygon, or {center: [lon, lat], radius_m}.")
    trigger: Literal["enter", "exit", "dwell"] = "enter"
    dwell_s: int | None = Field(None, gt=0, le=86_400, description="Time inside before a dwell trigger (s).")
    template: str = Field(min_length=1, max_length=480, description="Placeholders: {name} {shop} {distance} {coupon}.")
    coupon: str | None = Field(None, max_length=40)
    source: str | None = Field(
        None,
        description="One of your short codes, or your alphanumeric OADC (your name, with the OADC option);"
        " default the platform's short code.",
    )
    valid_from: AwareDatetime
    valid_until: AwareDatetime
    days: str = Field("1234567", pattern=r"^[1-7]{1,7}$", description="ISO weekdays (Monday = 1).")
    hours_from: time = time(0, 0)
    hours_until: time = time(23, 59, 59)
    timezone: str = "Europe/Brussels"
    cap: Cap = Cap()
    budget_messages: int | None = Field(None, ge=0)
    budget_minor: int | None = Field(None, ge=0, description="Money budget in minor units (cents).")

    @field_validator("hours_from", "hours_until")
    @classmethod
    def _wall_clock(cls, value: time) -> time:
        if value.tzinfo is not None:  # hours are wall-clock times in `timezone`; an offset here cannot be compared
            raise ValueError("a time of day without an offset (the promotion's timezone applies)")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> PromotionIn:
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        if (self.trigger == "dwell") != (self.dwell_s is not None):
            raise ValueError("dwell_s is required with trigger 'dwell' and only then")
        if self.hours_until <= self.hours_from:
            raise ValueError("hours_until must be after hours_from")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc
        check_template(self.template)
        return self


def _out(row: asyncpg.Record) -> dict[str, Any]:
    fence = row["fence"] if isinstance(row["fence"], dict) else json.loads(row["fence"])
    return {
        "id": row["id"],
        "name": row["name"],
        "application": row["application"],
        "brand": row["brand"],
        "shop": row["shop"],
        "fence": fence,
        "trigger": row["trigger"],
        "dwell_s": row["dwell_s"],
        "template": row["template"],
        "coupon": row["coupon"],
        "source": row["source"],
        "valid_from": row["valid_from"].isoformat(),
        "valid_until": row["valid_until"].isoformat(),
        "days": row["days"],
        "hours_from": row["hours_from"].isoformat(),
        "hours_until": row["hours_until"].isoformat(),
        "timezone": row["timezone"],
        "cap": {"count": row["cap_count"], "period": row["cap_period"]},
        "budget_messages": row["budget_messages"],
        "budget_minor": row["budget_minor"],
        "status": row["status"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


def _columns(request: web.Request, body: PromotionIn) -> dict[str, Any]:
    """Validated column values (the fence normalised; the source defaulted)."""
    settings = request.app[SETTINGS_KEY]
    shape = parse_shape(body.fence, limits_from(settings))
    return {
        "name": body.name,
        "brand": body.brand.upper(),
        "shop": body.shop,
        "fence": json.dumps(shape_to_geojson(shape)),
        "trigger": body.trigger,
        "dwell_s": body.dwell_s,
        "template": body.template,
        "coupon": body.coupon,
        "source": validate_source(body.source or settings.short_code),
        "valid_from": body.valid_from,
        "valid_until": body.valid_until,
        "days": "".join(sorted(set(body.days))),
        "hours_from": body.hours_from,
        "hours_until": body.hours_until,
        "timezone": body.timezone,
        "cap_count": body.cap.count,
        "cap_period": body.cap.period,
        "budget_messages": body.budget_messages,
        "budget_minor": body.budget_minor,
    }


async def _checked_columns(
    request: web.Request, pool: asyncpg.Pool[Any], provider_id: int, body: PromotionIn
) -> dict[str, Any]:
    """The columns, with what only the database can tell checked: the application, the sender and the brand are
    the provider's own (403 for another's sender or brand)."""
    values = _columns(request, body)
    values["application_id"] = await _application_id(pool, provider_id, body.application)
    today = clock_of(request.app)().date()  # the OADC option is paid by the month
    values["source"] = await check_sender(pool, provider_id, values["source"], request.app[SETTINGS_KEY], today)
    values["brand"] = await check_brand(pool, provider_id, values["brand"])
    return values


async def _application_id(conn: asyncpg.Pool[Any], provider_id: int, name: str) -> int:
    app_id = await conn.fetchval(
        "SELECT id FROM applications WHERE provider_id = $1 AND name = $2", provider_id, name.upper()
    )
    if app_id is None:
        raise InvalidArgument(f"application: you have no application named {name!r}")
    return int(app_id)


async def _fetch(pool: asyncpg.Pool[Any], provider_id: int, promotion_id: int) -> asyncpg.Record:
    row = await pool.fetchrow(
        f"SELECT {COLUMNS} {FROM} WHERE p.id = $1 AND p.provider_id = $2 AND p.status <> 'deleted'",
        promotion_id,
        provider_id,
    )
    if row is None:
        raise NotFound(f"no promotion {promotion_id}")
    found: asyncpg.Record = row
    return found


def _promotion_id(request: web.Request) -> int:
    return whole_number(request.match_info["promotion_id"], "promotion_id")


async def create_promotion(request: web.Request) -> web.Response:
    """Provider: register a promotion (active at once)."""
    provider_id = provider_id_of(await require(request, "provider"))
    body = await parse_json(request, PromotionIn)
    pool = request.app[PG_POOL_KEY]
    values = await _checked_columns(request, pool, provider_id, body)
    names = ", ".join(values)
    marks = ", ".join(f"${i + 2}" for i in range(len(values)))
    new_id = await pool.fetchval(
        f"INSERT INTO promotions (provider_id, {names}) VALUES ($1, {marks}) RETURNING id",  # noqa: S608 (fixed names)
        provider_id,
        *values.values(),
    )
    return web.json_response(_out(await _fetch(pool, provider_id, int(new_id))), status=201)


async def list_promotions(request: web.Request) -> web.Response:
    """Provider: its promotions (not the deleted ones)."""
    provider_id = provider_id_of(await require(request, "provider"))
    rows = await request.app[PG_POOL_KEY].fetch(
        f"SELECT {COLUMNS} {FROM} WHERE p.provider_id = $1 AND p.status <> 'deleted' ORDER BY p.id", provider_id
    )
    return web.json_response({"promotions": [_out(r) for r in rows]})


async def get_promotion(request: web.Request) -> web.Response:
    """Provider: one of its promotions."""
    provider_id = provider_id_of(await require(request, "provider"))
    return web.json_response(_out(await _fetch(request.app[PG_POOL_KEY], provider_id, _promotion_id(request))))


async def update_promotion(request: web.Request) -> web.Response:
    """Provider: change any fields (merged with the current ones, then validated as a whole)."""
    provider_id = provider_id_of(await require(request, "provider"))
    pool = request.app[PG_POOL_KEY]
    promotion_id = _promotion_id(request)
    current = _out(await _fetch(pool, provider_id, promotion_id))
    patch = await _read_object(request)
    fields = {k: current[k] for k in PromotionIn.model_fields}
    body = validate(PromotionIn, {**fields, **patch})
    values = await _checked_columns(request, pool, provider_id, body)
    sets = ", ".join(f"{k} = ${i + 3}" for i, k in enumerate(values))
    await pool.execute(
        f"UPDATE promotions SET {sets}, updated_at = clock_timestamp() WHERE id = $1 AND provider_id = $2",  # noqa: S608
        promotion_id,
        provider_id,
        *values.values(),
    )
    return web.json_response(_out(await _fetch(pool, provider_id, promotion_id)))


async def _read_object(request: web.Request) -> dict[str, Any]:
    data = await read_json(request)
    if not isinstance(data, dict):
        raise InvalidArgument("body: expected a JSON object of the fields to change")
    return data


async def _set_status(request: web.Request, status: str) -> asyncpg.Record:
    provider_id = provider_id_of(await require(request, "provider"))
    pool = request.app[PG_POOL_KEY]
    promotion_id = _promotion_id(request)
    await _fetch(pool, provider_id, promotion_id)
    await pool.execute(
        "UPDATE promotions SET status = $3, updated_at = clock_timestamp() WHERE id = $1 AND provider_id = $2",
        promotion_id,
        provider_id,
        status,
    )
    row = await pool.fetchrow(f"SELECT {COLUMNS} {FROM} WHERE p.id = $1", promotion_id)
    assert row is not None
    found: asyncpg.Record = row
    return found


async def pause_promotion(request: web.Request) -> web.Response:
    """Provider: stop triggering (the fence leaves the engine) until resumed."""
    return web.json_response(_out(await _set_status(request, "paused")))


async def resume_promotion(request: web.Request) -> web.Response:
    """Provider: trigger again."""
    return web.json_response(_out(await _set_status(request, "active")))


async def delete_promotion(request: web.Request) -> web.Response:
    """Provider: end a promotion for good (its report stays readable by id)."""
    await _set_status(request, "deleted")
    return web.Response(status=204)


async def promotion_report(request: web.Request) -> web.Response:
    """Provider: positions, transitions, fired, suppressed by reason, sent, delivered, STOPs."""
    provider_id = provider_id_of(await require(request, "provider"))
    pool = request.app[PG_POOL_KEY]
    promotion_id = _promotion_id(request)
    owner = await pool.fetchval("SELECT provider_id FROM promotions WHERE id = $1", promotion_id)
    if owner != provider_id:
        raise NotFound(f"no promotion {promotion_id}")
    values = await counters(pool, promotion_id)
    suppressed = {k.removeprefix("suppressed:"): v for k, v in sorted(values.items()) if k.startswith("suppressed:")}
    report = {name: values.get(name, 0) for name in REPORT_COUNTERS}
    return web.json_response({"promotion_id": promotion_id, **report, "suppressed": suppressed})


REPORT_COUNTERS = ("positions", "transitions", "fired", "sent", "delivered", "undelivered", "stops")


def setup_promotion_routes(app: web.Application) -> None:
    """Add the promotion endpoints to the platform app."""
    app.router.add_post(BASE, create_promotion)
    app.router.add_get(BASE, list_promotions)
    app.router.add_get(ITEM, get_promotion)
    app.router.add_patch(ITEM, update_promotion)
    app.router.add_delete(ITEM, delete_promotion)
    app.router.add_post(ITEM + "/pause", pause_promotion)
    app.router.add_post(ITEM + "/resume", resume_promotion)
    app.router.add_get(ITEM + "/report", promotion_report)


_ERROR = {"$ref": "#/components/schemas/Error"}
_AUTH = {"401": "Missing or invalid API key", "403": "The key is not a provider's"}


def _op(summary: str, ok: tuple[str, str], errors: dict[str, str], body: bool = False) -> dict[str, Any]:
    responses: dict[str, Any] = {ok[0]: {"description": ok[1]}}
    if ok[0] != "204":
        responses[ok[0]]["content"] = {"application/json": {"schema": {"type": "object"}}}
    for status, text in {**errors, **_AUTH}.items():
        responses[status] = {"description": text, "content": {"application/json": {"schema": _ERROR}}}
    op: dict[str, Any] = {"tags": ["promotions"], "summary": summary, "security": [{"bearer": []}]}
    op["description"] = "Roles: provider."
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": PromotionIn.model_json_schema()}},
        }
        responses["413"] = {"description": "Body too large", "content": {"application/json": {"schema": _ERROR}}}
        responses["415"] = {"description": "Not JSON", "content": {"application/json": {"schema": _ERROR}}}
    op["responses"] = responses
    return op


_BAD = {
    "400": "Invalid promotion (INVALID_ARGUMENT) or fence (INVALID_FENCE, details.reason)",
    "403": "Not a provider key, or a sender or brand that is not yours (PERMISSION_DENIED)",
}
_MISSING = {"404": "No such promotion for this provider"}

OPENAPI_PATHS: dict[str, Any] = {
    BASE: {
        "post": _op("Register a geofenced promotion", ("201", "The promotion"), _BAD, body=True),
        "get": _op("The provider's promotions", ("200", "Promotions"), {}),
    },
    ITEM: {
        "get": _op("One promotion", ("200", "The promotion"), _MISSING),
        "patch": _op(
            "Change a promotion (fields merged, then validated)",
            ("200", "The promotion"),
            {**_BAD, **_MISSING},
            body=True,
        ),
        "delete": _op("End a promotion (its report stays)", ("204", "Ended"), _MISSING),
    },
    ITEM + "/pause": {"post": _op("Pause a promotion", ("200", "The promotion"), _MISSING)},
    ITEM + "/resume": {"post": _op("Resume a promotion", ("200", "The promotion"), _MISSING)},
    ITEM + "/report": {
        "get": _op(
            "Report: positions, transitions, fired, suppressed by reason, sent, delivered, STOPs",
            ("200", "Counters"),
            _MISSING,
        )
    },
}
