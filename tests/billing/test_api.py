"""/v1/billing over HTTP: roles, 404 for other providers' resources, house-shaped errors, nothing half applied."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.billing import OPENAPI_PATHS, setup_billing_routes
from api.openapi import OPENAPI_FRAGMENTS_KEY
from lbs.apikeys import create_key
from lbs.billing import LocationKind, LocationResult, record
from lbs.settings import Settings
from tests.billing.conftest import NOV

METHODS = {"get", "post", "put", "patch", "delete"}

PLAN = {
    "code": "GOLD",
    "name": "Gold",
    "charging_point": "delivery",
    "mt_r_share_bp": 5000,
    "rates": [
        {"event_type": "mt", "tiers": [{"from_units": 0, "unit_price_minor": 3}]},
        {
            "event_type": "location_active",
            "free_units": 100,
            "tiers": [{"from_units": 0, "unit_price_minor": 5}, {"from_units": 1000, "unit_price_minor": 4}],
        },
    ],
}


def build_app(settings: Settings) -> Any:
    app = create_app(settings.model_copy(update={"smpp_enabled": False}))
    if not any(r.resource and r.resource.canonical.startswith("/v1/billing") for r in app.router.routes()):
        setup_billing_routes(app)  # until the lead wires it into create_app
        app[OPENAPI_FRAGMENTS_KEY].append(OPENAPI_PATHS)
    return app


@pytest.fixture
async def client(settings: Settings, db: asyncpg.Connection[Any], aiohttp_client: Any) -> TestClient:
    return await aiohttp_client(build_app(settings))  # type: ignore[no-any-return]


@pytest.fixture
async def keys(db: asyncpg.Connection[Any], providers: dict[str, int]) -> dict[str, dict[str, str]]:
    return {
        "operator": auth(await create_key(db, role="operator", name="ops")),
        "acme": auth(await create_key(db, role="provider", name="acme", provider="Acme")),
        "other": auth(await create_key(db, role="provider", name="other", provider="Other")),
    }


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def expect_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    body: dict[str, Any] = await resp.json()
    assert resp.status == status, body
    assert body["status"] == status and body["code"] == code and body["message"]
    return body


async def test_plan_lifecycle(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    ops = keys["operator"]
    resp = await client.post("/v1/billing/plans", json=PLAN, headers=ops)
    assert resp.status == 201, await resp.text()
    resp = await client.get("/v1/billing/plans/GOLD", headers=ops)
    body = await resp.json()
    assert body["charging_point"] == "delivery" and len(body["rates"]) == 2
    await expect_error(await client.post("/v1/billing/plans", json=PLAN, headers=ops), 409, "CONFLICT")
    await expect_error(await client.get("/v1/billing/plans/NOPE", headers=ops), 404, "NOT_FOUND")
    await expect_error(await client.get("/v1/billing/plans", headers=keys["acme"]), 403, "PERMISSION_DENIED")
    await expect_error(await client.get("/v1/billing/plans"), 401, "UNAUTHENTICATED")


@pytest.mark.parametrize(
    "price",
    [-1, 2.5, 3.0, "3", None, 10**8],
)
async def test_bad_prices_are_refused_and_nothing_is_stored(
    client: TestClient, keys: dict[str, dict[str, str]], db: asyncpg.Connection[Any], price: object
) -> None:
    bad = {
        **PLAN,
        "rates": [PLAN["rates"][0], {"event_type": "mo", "tiers": [{"from_units": 0, "unit_price_minor": price}]}],
    }  # type: ignore[index]
    await expect_error(
        await client.post("/v1/billing/plans", json=bad, headers=keys["operator"]), 400, "INVALID_ARGUMENT"
    )
    assert await db.fetchval("SELECT count(*) FROM billing_plans") == 0
    assert await db.fetchval("SELECT count(*) FROM billing_plan_rates") == 0


@pytest.mark.parametrize(
    "change",
    [
        {"code": "lower"},
        {"currency": "USD"},
        {"charging_point": "never"},
        {"rates": [{"event_type": "teleport", "tiers": [{"from_units": 0, "unit_price_minor": 1}]}]},
        {"rates": [{"event_type": "mt", "tiers": [{"from_units": 5, "unit_price_minor": 1}]}]},
        {"rates": [{"event_type": "mt", "tiers": [{"from_units": 0, "unit_price_minor": 1}]}] * 2},
        {"mt_r_share_bp": 10_001},
        {"extra": 1},
    ],
)
async def test_bad_plans(client: TestClient, keys: dict[str, dict[str, str]], change: dict[str, Any]) -> None:
    resp = await client.post("/v1/billing/plans", json={**PLAN, **change}, headers=keys["operator"])
    await expect_error(resp, 400, "INVALID_ARGUMENT")


async def test_contracts(client: TestClient, keys: dict[str, dict[str, str]], providers: dict[str, int]) -> None:
    ops = keys["operator"]
    await client.post("/v1/billing/plans", json=PLAN, headers=ops)
    acme = providers["Acme"]
    ok = {
        "provider_id": acme,
        "plan_code": "GOLD",
        "account": "prepaid",
        "valid_from": "2026-01-01",
        "valid_to": "2027-01-01",
    }
    assert (await client.post("/v1/billing/contracts", json=ok, headers=ops)).status == 201
    overlap = {**ok, "valid_from": "2026-12-01", "valid_to": None}
    await expect_error(await client.post("/v1/billing/contracts", json=overlap, headers=ops), 409, "CONTRACT_OVERLAP")
    unknown = {**ok, "plan_code": "SILVER", "valid_from": "2027-01-01", "valid_to": None}
    await expect_error(await client.post("/v1/billing/contracts", json=unknown, headers=ops), 400, "UNKNOWN_PLAN")
    backwards = {**ok, "valid_from": "2028-01-01", "valid_to": "2027-06-01"}
    await expect_error(await client.post("/v1/billing/contracts", json=backwards, headers=ops), 400, "INVALID_ARGUMENT")
    nobody = {**ok, "provider_id": 999_999}
    await expect_error(await client.post("/v1/billing/contracts", json=nobody, headers=ops), 404, "NOT_FOUND")
    after = {**ok, "valid_from": "2027-01-01", "valid_to": None}
    assert (await client.post("/v1/billing/contracts", json=after, headers=ops)).status == 201
    mine = await (await client.get("/v1/billing/contracts", headers=keys["acme"])).json()
    assert len(mine["contracts"]) == 2
    theirs = await (await client.get("/v1/billing/contracts", headers=keys["other"])).json()
    assert theirs["contracts"] == []


async def test_balance_and_top_ups(
    client: TestClient, keys: dict[str, dict[str, str]], providers: dict[str, int], db: asyncpg.Connection[Any]
) -> None:
    acme, ops = providers["Acme"], keys["operator"]
    url = f"/v1/billing/balances/{acme}"
    for bad in (0, -100, 12.5, "100"):
        resp = await client.post(url + "/topups", json={"amount_minor": bad, "idempotency_key": "k"}, headers=ops)
        await expect_error(resp, 400, "INVALID_ARGUMENT")
    assert await db.fetchval("SELECT count(*) FROM billing_ledger") == 0
    for _ in range(2):  # a retried top-up adds once
        resp = await client.post(url + "/topups", json={"amount_minor": 5000, "idempotency_key": "k"}, headers=ops)
        assert resp.status == 201
    body = await (await client.get(url, headers=keys["acme"])).json()
    assert body["credits_minor"] == 5000 and body["available_minor"] == 5000 and body["expires_at"]
    await expect_error(await client.get(url, headers=keys["other"]), 404, "NOT_FOUND")
    await expect_error(
        await client.get(f"/v1/billing/balances/{providers['Other']}", headers=keys["other"]), 404, "NOT_FOUND"
    )
    resp = await client.post(url + "/topups", json={"amount_minor": 1, "idempotency_key": "x"}, headers=keys["acme"])
    await expect_error(resp, 403, "PERMISSION_DENIED")


async def test_fees(client: TestClient, keys: dict[str, dict[str, str]], providers: dict[str, int]) -> None:
    ops, acme = keys["operator"], providers["Acme"]
    resp = await client.post(
        "/v1/billing/fees", json={"provider_id": acme, "kind": "oadc", "starts": "2026-11"}, headers=ops
    )
    assert resp.status == 201 and (await resp.json())["amount_minor"] == 15_000
    for bad in (
        {"provider_id": acme, "kind": "setup", "starts": "2026-11"},  # set-up needs an amount
        {"provider_id": acme, "kind": "setup", "starts": "2026-11", "amount_minor": -5},
        {"provider_id": acme, "kind": "gift", "starts": "2026-11", "amount_minor": 5},
        {"provider_id": acme, "kind": "other", "starts": "2026-13", "amount_minor": 5},
    ):
        await expect_error(await client.post("/v1/billing/fees", json=bad, headers=ops), 400, "INVALID_ARGUMENT")
    assert len((await (await client.get("/v1/billing/fees", headers=keys["acme"])).json())["fees"]) == 1
    assert (await (await client.get("/v1/billing/fees", headers=keys["other"])).json())["fees"] == []


async def test_statements_months_and_revenue(
    client: TestClient, keys: dict[str, dict[str, str]], providers: dict[str, int], db: asyncpg.Connection[Any]
) -> None:
    acme, ops = providers["Acme"], keys["operator"]
    for i in range(3):
        await record(
            db,
            LocationResult(
                idempotency_key=f"l{i}",
                provider_id=acme,
                occurred_at=NOV.replace(year=2025),
                kind=LocationKind.ACTIVE,
                short_code="3311",
            ),
        )
    preview = await (await client.get("/v1/billing/preview/2025-11", headers=keys["acme"])).json()
    assert preview["status"] == "open" and preview["totals"]["usage_minor"] == 15
    await expect_error(await client.get("/v1/billing/preview/2025-11", headers=ops), 400, "INVALID_ARGUMENT")
    resp = await client.post("/v1/billing/months/2025-11/close", headers=ops)
    assert resp.status == 200, await resp.text()
    sid = (await resp.json())["statements"][0]["id"]
    await expect_error(await client.post("/v1/billing/months/2025-11/close", headers=ops), 409, "MONTH_ALREADY_CLOSED")
    await expect_error(await client.post("/v1/billing/months/2025-13/close", headers=ops), 400, "INVALID_ARGUMENT")
    await expect_error(await client.post("/v1/billing/months/2999-01/close", headers=ops), 400, "INVALID_ARGUMENT")
    assert (await (await client.get("/v1/billing/months", headers=ops)).json())["months"][0]["period"] == "2025-11"
    body = await (await client.get(f"/v1/billing/statements/{sid}", headers=keys["acme"])).json()
    assert body["totals"]["total_excl_tax_minor"] == 15 and body["status"] == "closed"
    resp = await client.get(f"/v1/billing/statements/{sid}/csv", headers=keys["acme"])
    assert resp.content_type == "text/csv" and "total_excl_tax" in await resp.text()
    resp = await client.get(f"/v1/billing/statements/{sid}/html", headers=ops)
    assert resp.content_type == "text/html" and "Total excluding tax" in await resp.text()
    for suffix in ("", "/csv", "/html"):
        await expect_error(
            await client.get(f"/v1/billing/statements/{sid}{suffix}", headers=keys["other"]), 404, "NOT_FOUND"
        )
    listed = await (await client.get("/v1/billing/statements?period=2025-11", headers=keys["other"])).json()
    assert listed["statements"] == []
    listed = await (await client.get("/v1/billing/statements", headers=ops)).json()
    assert [s["id"] for s in listed["statements"]] == [sid]
    page = await (await client.get("/v1/billing/cdrs?period=2025-11&limit=2", headers=keys["acme"])).json()
    assert [c["idempotency_key"] for c in page["cdrs"]] == ["l0", "l1"] and page["next_after_id"]
    after = page["next_after_id"]
    rest = await (await client.get(f"/v1/billing/cdrs?period=2025-11&after_id={after}", headers=keys["acme"])).json()
    assert [c["idempotency_key"] for c in rest["cdrs"]] == ["l2"] and rest["next_after_id"] is None
    none = await (await client.get("/v1/billing/cdrs?period=2025-11", headers=keys["other"])).json()
    assert none["cdrs"] == []
    await expect_error(await client.get("/v1/billing/cdrs", headers=keys["acme"]), 400, "INVALID_ARGUMENT")
    await expect_error(
        await client.get("/v1/billing/cdrs?period=2025-11&limit=x", headers=ops), 400, "INVALID_ARGUMENT"
    )
    view = await (await client.get("/v1/billing/revenue/2025-11", headers=ops)).json()
    assert view["total_revenue_minor"] == 15
    await expect_error(await client.get("/v1/billing/revenue/2025-11", headers=keys["acme"]), 403, "PERMISSION_DENIED")


async def test_openapi_documents_every_billing_route(client: TestClient) -> None:
    doc = await (await client.get("/openapi.json")).json()
    documented = {
        (p, m) for p, item in doc["paths"].items() if p.startswith("/v1/billing") for m in item if m in METHODS
    }
    served = {
        (r.resource.canonical, r.method.lower())
        for r in client.app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/v1/billing")
    }
    assert documented == served
    assert len(served) == 18
