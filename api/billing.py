"""Billing endpoints under ``/v1/billing``: plans, contracts, fees, prepaid balances, statements, revenue.

Operators manage plans, contracts, fees and top-ups, close months and read revenue. Providers read their own
balance, contracts, fees and statements; another provider's resource answers 404, so its existence does not leak.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from api.auth import provider_id_of, require
from api.keys import CLOCK_KEY, PG_POOL_KEY, SETTINGS_KEY
from api.openapi import error, json_ok, operation
from api.validation import parse_json, whole_number
from lbs.apikeys import Principal
from lbs.billing import fees as fee_store
from lbs.billing import plans as plan_store
from lbs.billing import prepaid
from lbs.billing.events import Conn, list_cdrs
from lbs.billing.rating import (
    Account,
    ChargingPoint,
    EventRate,
    EventType,
    FeeSchedule,
    RatePlan,
    Tier,
    parse_period,
)
from lbs.billing.render import to_csv, to_html
from lbs.billing.revenue import revenue
from lbs.billing.statements import (
    Statement,
    build_statement,
    close_month,
    closed_months,
    get_statement,
    list_statements,
)
from lbs.errors import InvalidArgument, NotFound

PREFIX = "/v1/billing"
MONTH = r"{period:\d{4}-\d{2}}"
MONEY = StrictInt  # minor units: a JSON float (even 3.0) or a string is refused, so no fractional cent sneaks in


class TierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_units: StrictInt = Field(ge=0, description="0-based unit of the month from which this price applies")
    unit_price_minor: MONEY = Field(ge=0, description="Price per unit in minor units (cents)")


class RateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_type: EventType
    free_units: StrictInt = Field(0, ge=0, description="Free units per month before any tier price")
    tiers: list[TierIn] = Field(min_length=1, max_length=20)


class PlanIn(BaseModel):
    """A price plan. Plans are immutable: a new price is a new code."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_-]{1,31}$")
    name: str = Field(min_length=1, max_length=120)
    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$")
    charging_point: ChargingPoint = ChargingPoint.DELIVERY
    mt_r_share_bp: StrictInt = Field(0, ge=0, le=10_000, description="Provider share of MT-R, basis points")
    mo_premium_share_bp: StrictInt = Field(0, ge=0, le=10_000, description="Provider share of premium MO, bp")
    rates: list[RateIn] = Field(max_length=len(EventType))


class ContractIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider_id: StrictInt
    plan_code: str = Field(min_length=1, max_length=32)
    account: Account = Account.POSTPAID
    valid_from: date
    valid_to: date | None = Field(None, description="Exclusive end; none: open-ended")


class FeeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider_id: StrictInt
    kind: Literal["setup", "oadc", "other"]
    starts: str = Field(pattern=r"^\d{4}-\d{2}$", description="First month billed, YYYY-MM")
    ends: str | None = Field(None, pattern=r"^\d{4}-\d{2}$", description="First month no longer billed (monthly)")
    amount_minor: MONEY | None = Field(None, description="Required except for oadc (default from the tariff)")
    description: str | None = Field(None, max_length=200)
    short_code: str | None = Field(None, pattern=r"^[0-9]{3,6}$")


class TopUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_minor: MONEY = Field(gt=0, description="Credits to add, in minor units")
    idempotency_key: str = Field(min_length=1, max_length=200, description="Retrying with the same key adds once")
    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$")


@asynccontextmanager
async def _conn(request: web.Request) -> AsyncIterator[Conn]:
    async with request.app[PG_POOL_KEY].acquire() as conn:
        yield conn


def _schedule(request: web.Request) -> FeeSchedule:
    return fee_store.schedule_from(request.app[SETTINGS_KEY])


def _own(principal: Principal) -> int | None:
    """The provider a caller is limited to (None for the operator, who sees every provider)."""
    return provider_id_of(principal) if principal.role == "provider" else None


def _int_query(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    return whole_number(raw, name)


def _plan(body: PlanIn) -> RatePlan:
    if len({r.event_type for r in body.rates}) != len(body.rates):
        raise InvalidArgument("rates: each event_type at most once")
    rates = {
        r.event_type: EventRate(tuple(Tier(t.from_units, t.unit_price_minor) for t in r.tiers), r.free_units)
        for r in body.rates
    }
    return RatePlan(
        body.code, body.name, body.currency, body.charging_point, rates, body.mt_r_share_bp, body.mo_premium_share_bp
    )


async def create_plan(request: web.Request) -> web.Response:
    """Operator: add a price plan."""
    await require(request, "operator")
    plan = _plan(await parse_json(request, PlanIn))
    if plan.currency != request.app[SETTINGS_KEY].billing_currency:
        raise InvalidArgument(f"plans are priced in {request.app[SETTINGS_KEY].billing_currency}")
    async with _conn(request) as conn:
        await plan_store.create_plan(conn, plan)
    return web.json_response(plan_store.plan_to_json(plan), status=201)


async def list_plans(request: web.Request) -> web.Response:
    """Operator: every price plan."""
    await require(request, "operator")
    async with _conn(request) as conn:
        plans = await plan_store.list_plans(conn)
    return web.json_response({"plans": [plan_store.plan_to_json(p) for p in plans]})


async def get_plan(request: web.Request) -> web.Response:
    """Operator: one price plan."""
    await require(request, "operator")
    async with _conn(request) as conn:
        plan = await plan_store.get_plan(conn, request.match_info["code"])
    return web.json_response(plan_store.plan_to_json(plan))


async def create_contract(request: web.Request) -> web.Response:
    """Operator: give a provider a plan over a validity period (no overlap with its other contracts)."""
    await require(request, "operator")
    body = await parse_json(request, ContractIn)
    async with _conn(request) as conn:
        contract = await plan_store.create_contract(
            conn,
            provider_id=body.provider_id,
            plan_code=body.plan_code,
            account=body.account,
            valid_from=body.valid_from,
            valid_to=body.valid_to,
        )
    return web.json_response(contract.to_json(), status=201)


async def list_contracts(request: web.Request) -> web.Response:
    """Operator: contracts (``?provider_id=``); provider: its own."""
    own = _own(await require(request, "operator", "provider"))
    async with _conn(request) as conn:
        found = await plan_store.list_contracts(conn, own or _int_query(request, "provider_id"))
    return web.json_response({"contracts": [c.to_json() for c in found]})


async def create_fee(request: web.Request) -> web.Response:
    """Operator: add a set-up fee, the OADC option or another monthly option to a provider."""
    await require(request, "operator")
    body = await parse_json(request, FeeIn)
    async with _conn(request) as conn:
        fee = await fee_store.add_fee(
            conn,
            provider_id=body.provider_id,
            kind=body.kind,
            starts_on=parse_period(body.starts),
            ends_on=parse_period(body.ends) if body.ends else None,
            amount_minor=body.amount_minor,
            description=body.description,
            short_code=body.short_code,
            schedule=_schedule(request),
        )
    return web.json_response(fee.to_json(), status=201)


async def list_fees(request: web.Request) -> web.Response:
    """Operator: fees (``?provider_id=``); provider: its own."""
    own = _own(await require(request, "operator", "provider"))
    async with _conn(request) as conn:
        found = await fee_store.list_fees(conn, own or _int_query(request, "provider_id"))
    return web.json_response({"fees": [f.to_json() for f in found]})


def _provider_param(request: web.Request, principal: Principal) -> int:
    """The ``{provider_id}`` of the path; a provider naming another provider gets 404."""
    pid = whole_number(request.match_info["provider_id"], "provider_id")
    own = _own(principal)
    if own is not None and own != pid:
        raise NotFound(f"no prepaid balance for provider {pid}")
    return pid


async def get_balance(request: web.Request) -> web.Response:
    """Provider (own) or operator: the prepaid balance."""
    pid = _provider_param(request, await require(request, "operator", "provider"))
    async with _conn(request) as conn:
        balance = await prepaid.get_balance(conn, pid, request.app[CLOCK_KEY]())
    return web.json_response(balance.to_json())


async def top_up(request: web.Request) -> web.Response:
    """Operator: add prepaid credit (idempotent per key); credit is valid for the configured number of days."""
    pid = _provider_param(request, await require(request, "operator"))
    body = await parse_json(request, TopUpIn)
    settings = request.app[SETTINGS_KEY]
    async with _conn(request) as conn:
        balance = await prepaid.top_up(
            conn,
            pid,
            body.amount_minor,
            idempotency_key=body.idempotency_key,
            currency=body.currency,
            validity_days=settings.billing_prepaid_validity_days,
            now=request.app[CLOCK_KEY](),
        )
    return web.json_response(balance.to_json(), status=201)


async def close(request: web.Request) -> web.Response:
    """Operator: close a month, writing every provider's statement, exactly once (409 the second time)."""
    principal = await require(request, "operator")
    period = parse_period(request.match_info["period"])
    async with _conn(request) as conn:
        done = await close_month(
            conn, period, closed_by=principal.name, schedule=_schedule(request), now=request.app[CLOCK_KEY]()
        )
    return web.json_response({"period": request.match_info["period"], "statements": [s.to_json() for s in done]})


async def months(request: web.Request) -> web.Response:
    """Operator: the closed months."""
    await require(request, "operator")
    async with _conn(request) as conn:
        return web.json_response({"months": await closed_months(conn)})


async def statements(request: web.Request) -> web.Response:
    """Closed statements: a provider's own, or any for the operator (``?provider_id=``, ``?period=YYYY-MM``)."""
    own = _own(await require(request, "operator", "provider"))
    raw = request.query.get("period")
    period = parse_period(raw) if raw else None
    async with _conn(request) as conn:
        found = await list_statements(conn, provider_id=own or _int_query(request, "provider_id"), period=period)
    return web.json_response({"statements": found})


async def _statement(request: web.Request) -> Statement:
    own = _own(await require(request, "operator", "provider"))
    async with _conn(request) as conn:
        return await get_statement(conn, whole_number(request.match_info["statement_id"], "statement_id"), own)


async def statement_json(request: web.Request) -> web.Response:
    """One closed statement as JSON."""
    return web.json_response((await _statement(request)).to_json())


async def statement_csv(request: web.Request) -> web.Response:
    """One closed statement as CSV."""
    s = await _statement(request)
    name = f"statement-{s.id}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return web.Response(text=to_csv(s), content_type="text/csv", headers=headers)


async def statement_html(request: web.Request) -> web.Response:
    """One closed statement as a printable HTML page."""
    return web.Response(text=to_html(await _statement(request)), content_type="text/html")


MAX_PAGE = 1_000


async def cdrs(request: web.Request) -> web.Response:
    """A month's CDRs, oldest first, by pages (``?period=YYYY-MM&after_id=&limit=``): provider own, operator any."""
    own = _own(await require(request, "operator", "provider"))
    period = parse_period(request.query.get("period", ""))
    limit = min(_int_query(request, "limit") or 100, MAX_PAGE)
    async with _conn(request) as conn:
        rows = await list_cdrs(
            conn,
            period=period,
            provider_id=own or _int_query(request, "provider_id"),
            after_id=_int_query(request, "after_id") or 0,
            limit=limit,
        )
    body = {"cdrs": [c.to_json() for c in rows], "next_after_id": rows[-1].id if len(rows) == limit else None}
    return web.json_response(body)


async def preview(request: web.Request) -> web.Response:
    """The running statement of a month, computed live (provider: own; operator: ``?provider_id=``)."""
    principal = await require(request, "operator", "provider")
    pid = _own(principal) or _int_query(request, "provider_id")
    if pid is None:
        raise InvalidArgument("provider_id is required for the operator")
    period = parse_period(request.match_info["period"])
    async with _conn(request) as conn:
        s = await build_statement(conn, pid, period, _schedule(request), request.app[CLOCK_KEY]())
    return web.json_response(s.to_json())


async def revenue_view(request: web.Request) -> web.Response:
    """Operator: revenue per short code and per provider, and the revenue-share lines of a month."""
    await require(request, "operator")
    period = parse_period(request.match_info["period"])
    async with _conn(request) as conn:
        return web.json_response(await revenue(conn, period, _schedule(request)))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/plans", create_plan),
    ("GET", "/plans", list_plans),
    ("GET", "/plans/{code}", get_plan),
    ("POST", "/contracts", create_contract),
    ("GET", "/contracts", list_contracts),
    ("POST", "/fees", create_fee),
    ("GET", "/fees", list_fees),
    ("GET", r"/balances/{provider_id:\d+}", get_balance),
    ("POST", r"/balances/{provider_id:\d+}/topups", top_up),
    ("GET", "/months", months),
    ("POST", f"/months/{MONTH}/close", close),
    ("GET", "/statements", statements),
    ("GET", r"/statements/{statement_id:\d+}", statement_json),
    ("GET", r"/statements/{statement_id:\d+}/csv", statement_csv),
    ("GET", r"/statements/{statement_id:\d+}/html", statement_html),
    ("GET", "/cdrs", cdrs),
    ("GET", f"/preview/{MONTH}", preview),
    ("GET", f"/revenue/{MONTH}", revenue_view),
]


def setup_billing_routes(app: web.Application) -> None:
    """Add every ``/v1/billing`` route to the platform app."""
    for method, path, handler in ROUTES:
        app.router.add_route(method, PREFIX + path, handler)


# --- OpenAPI ---------------------------------------------------------------------------------------------------


def _inline(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its ``$defs`` inlined (the document's components are not ours to extend)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(defs[ref.rsplit("/", 1)[1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return dict(walk(schema))


_BODY_ERRORS = {"400": error("Invalid body"), "413": error("Body too large"), "415": error("Not JSON")}
_OPERATOR = ("operator",)
_BOTH = ("operator", "provider")


def _op(
    summary: str, responses: dict[str, Any], roles: tuple[str, ...], body: type[BaseModel] | None = None
) -> dict[str, Any]:
    op = operation(summary, responses, roles=roles)
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _inline(body)}}}
        op["responses"] = {**op["responses"], **_BODY_ERRORS}
    return op


def _text(description: str, media: str) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "string"}}}}


_404 = {"404": error("No such resource for this caller")}
_MONTH_400 = {"400": error("Month is not YYYY-MM")}

OPENAPI_PATHS: dict[str, Any] = {
    f"{PREFIX}/plans": {
        "post": _op("Add a price plan", {"201": json_ok("Created"), "409": error("Code taken")}, _OPERATOR, PlanIn),
        "get": _op("Every price plan", {"200": json_ok("Plans")}, _OPERATOR),
    },
    f"{PREFIX}/plans/{{code}}": {"get": _op("One price plan", {"200": json_ok("Plan"), **_404}, _OPERATOR)},
    f"{PREFIX}/contracts": {
        "post": _op(
            "Give a provider a plan over a validity period",
            {"201": json_ok("Created"), "404": error("No such provider"), "409": error("Overlaps a contract")},
            _OPERATOR,
            ContractIn,
        ),
        "get": _op("Contracts (a provider sees its own)", {"200": json_ok("Contracts")}, _BOTH),
    },
    f"{PREFIX}/fees": {
        "post": _op("Add a set-up fee or a monthly option", {"201": json_ok("Created"), **_404}, _OPERATOR, FeeIn),
        "get": _op("Fees (a provider sees its own)", {"200": json_ok("Fees")}, _BOTH),
    },
    f"{PREFIX}/balances/{{provider_id}}": {
        "get": _op("Prepaid balance (a provider reads its own)", {"200": json_ok("Balance"), **_404}, _BOTH)
    },
    f"{PREFIX}/balances/{{provider_id}}/topups": {
        "post": _op("Add prepaid credit (idempotent per key)", {"201": json_ok("Balance"), **_404}, _OPERATOR, TopUpIn)
    },
    f"{PREFIX}/months": {"get": _op("Closed months", {"200": json_ok("Months")}, _OPERATOR)},
    f"{PREFIX}/months/{{period}}/close": {
        "post": _op(
            "Close a month: write every provider's statement, exactly once",
            {"200": json_ok("Statements"), **_MONTH_400, "409": error("Month already closed (MONTH_ALREADY_CLOSED)")},
            _OPERATOR,
        )
    },
    f"{PREFIX}/statements": {
        "get": _op("Closed statements (a provider sees its own)", {"200": json_ok("Statements"), **_MONTH_400}, _BOTH)
    },
    f"{PREFIX}/statements/{{statement_id}}": {
        "get": _op("A closed statement as JSON", {"200": json_ok("Statement"), **_404}, _BOTH)
    },
    f"{PREFIX}/statements/{{statement_id}}/csv": {
        "get": _op("A closed statement as CSV", {"200": _text("CSV", "text/csv"), **_404}, _BOTH)
    },
    f"{PREFIX}/statements/{{statement_id}}/html": {
        "get": _op("A closed statement, printable", {"200": _text("HTML page", "text/html"), **_404}, _BOTH)
    },
    f"{PREFIX}/cdrs": {
        "get": _op(
            "A month's CDRs by pages (?period=YYYY-MM&after_id=&limit=); a provider sees its own",
            {"200": json_ok("CDRs and next_after_id"), **_MONTH_400},
            _BOTH,
        )
    },
    f"{PREFIX}/preview/{{period}}": {
        "get": _op(
            "The running statement of a month, computed live", {"200": json_ok("Statement"), **_MONTH_400}, _BOTH
        )
    },
    f"{PREFIX}/revenue/{{period}}": {
        "get": _op(
            "Revenue per short code and provider, revenue-share lines",
            {"200": json_ok("Revenue"), **_MONTH_400},
            _OPERATOR,
        )
    },
}
