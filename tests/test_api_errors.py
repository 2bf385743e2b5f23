"""Every error path of the API answers the house shape {"status", "code", "message"}."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from api.app import create_app
from lbs.apikeys import create_key
from lbs.settings import Settings


def assert_error(body: dict[str, Any], status: int, code: str) -> None:
    assert body["status"] == status
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]


@pytest.fixture
async def client(settings: Settings, db: asyncpg.Connection[Any], aiohttp_client: Any) -> TestClient:
    app = create_app(settings.model_copy(update={"smpp_enabled": False, "max_body_bytes": 4096}))

    @web.middleware
    async def noop(request: web.Request, handler: Any) -> web.StreamResponse:
        return await handler(request)

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("kaboom")

    app.router.add_get("/test/boom", boom)
    return await aiohttp_client(app)  # type: ignore[no-any-return]


@pytest.fixture
async def keys(db: asyncpg.Connection[Any]) -> dict[str, str]:
    await db.execute("INSERT INTO providers (name) VALUES ('Acme'), ('Other')")
    return {
        "operator": await create_key(db, role="operator", name="ops"),
        "officer": await create_key(db, role="officer", name="dpo"),
        "provider": await create_key(db, role="provider", name="acme", provider="Acme"),
        "other": await create_key(db, role="provider", name="other", provider="Other"),
    }


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_unknown_route_is_404(client: TestClient) -> None:
    resp = await client.get("/nope")
    assert_error(await resp.json(), 404, "NOT_FOUND")


async def test_wrong_method_is_405(client: TestClient) -> None:
    resp = await client.delete("/v1/providers")
    assert resp.status == 405
    assert_error(await resp.json(), 405, "METHOD_NOT_ALLOWED")


async def test_missing_key_is_401(client: TestClient) -> None:
    resp = await client.get("/v1/me")
    assert_error(await resp.json(), 401, "UNAUTHENTICATED")


@pytest.mark.parametrize("header", ["Bearer lbs_nope_nope", "Bearer garbage", "Basic abc", "Bearer "])
async def test_invalid_key_is_401(client: TestClient, header: str) -> None:
    resp = await client.get("/v1/me", headers={"Authorization": header})
    assert_error(await resp.json(), 401, "UNAUTHENTICATED")


async def test_tampered_secret_is_401(client: TestClient, keys: dict[str, str]) -> None:
    token = keys["operator"][:-2] + ("aa" if not keys["operator"].endswith("aa") else "bb")
    resp = await client.get("/v1/me", headers=auth(token))
    assert_error(await resp.json(), 401, "UNAUTHENTICATED")


async def test_wrong_role_is_403(client: TestClient, keys: dict[str, str]) -> None:
    resp = await client.get("/v1/providers", headers=auth(keys["provider"]))
    assert_error(await resp.json(), 403, "PERMISSION_DENIED")
    resp = await client.get("/v1/applications", headers=auth(keys["officer"]))
    assert_error(await resp.json(), 403, "PERMISSION_DENIED")


async def test_bad_json_is_400(client: TestClient, keys: dict[str, str]) -> None:
    resp = await client.post(
        "/v1/providers", data=b"{not json", headers={**auth(keys["operator"]), "Content-Type": "application/json"}
    )
    assert_error(await resp.json(), 400, "INVALID_ARGUMENT")


async def test_invalid_fields_name_the_field(client: TestClient, keys: dict[str, str]) -> None:
    resp = await client.post("/v1/applications", json={"name": "lower case"}, headers=auth(keys["provider"]))
    body = await resp.json()
    assert_error(body, 400, "INVALID_ARGUMENT")
    assert "name" in body["message"]
    resp = await client.post("/v1/providers", json={"name": "X", "extra": 1}, headers=auth(keys["operator"]))
    assert_error(await resp.json(), 400, "INVALID_ARGUMENT")


async def test_not_json_content_type_is_415(client: TestClient, keys: dict[str, str]) -> None:
    resp = await client.post("/v1/providers", data="name=x", headers=auth(keys["operator"]))
    assert_error(await resp.json(), 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_oversize_body_is_413(client: TestClient, keys: dict[str, str]) -> None:
    resp = await client.post("/v1/providers", json={"name": "x" * 10_000}, headers=auth(keys["operator"]))
    assert_error(await resp.json(), 413, "PAYLOAD_TOO_LARGE")


async def test_duplicate_is_409(client: TestClient, keys: dict[str, str]) -> None:
    resp = await client.post("/v1/providers", json={"name": "Acme"}, headers=auth(keys["operator"]))
    assert_error(await resp.json(), 409, "CONFLICT")


async def test_unexpected_exception_is_bare_500(client: TestClient) -> None:
    resp = await client.get("/test/boom")
    body = await resp.json()
    assert_error(body, 500, "INTERNAL")
    assert "kaboom" not in body["message"]  # internals never leak to the client


async def test_provider_sees_only_its_own_applications(client: TestClient, keys: dict[str, str]) -> None:
    resp = await client.post("/v1/applications", json={"name": "ACMEAPP"}, headers=auth(keys["provider"]))
    assert resp.status == 201
    resp = await client.get("/v1/applications/ACMEAPP", headers=auth(keys["provider"]))
    assert (await resp.json())["name"] == "ACMEAPP"
    # Another provider: 404, not 403, so the application's existence does not leak.
    resp = await client.get("/v1/applications/ACMEAPP", headers=auth(keys["other"]))
    assert_error(await resp.json(), 404, "NOT_FOUND")
    resp = await client.get("/v1/applications", headers=auth(keys["other"]))
    assert (await resp.json())["applications"] == []


async def test_roles_reach_their_endpoints(client: TestClient, keys: dict[str, str]) -> None:
    resp = await client.post("/v1/providers", json={"name": "NewCo"}, headers=auth(keys["operator"]))
    assert resp.status == 201
    resp = await client.get("/v1/providers", headers=auth(keys["operator"]))
    assert [p["name"] for p in (await resp.json())["providers"]] == ["Acme", "Other", "NewCo"]
    resp = await client.get("/v1/me", headers=auth(keys["officer"]))
    assert (await resp.json())["role"] == "officer"


async def test_keys_are_stored_hashed(db: asyncpg.Connection[Any], keys: dict[str, str]) -> None:
    rows = await db.fetch("SELECT prefix, key_hash FROM api_keys")
    stored = " ".join(f"{r['prefix']} {r['key_hash']}" for r in rows)
    for token in keys.values():
        secret = token.split("_", 2)[2]
        assert secret not in stored
        assert token not in stored


# The 500 classes fuzzing found (issue 19): each is a 400 in the house shape now.
BIG = "99999999999999999999"  # beyond BIGINT


@pytest.mark.parametrize(
    ("method", "path", "role", "body"),
    [
        ("get", f"/v1/billing/statements/{BIG}", "operator", None),
        ("get", f"/v1/billing/statements/{BIG}/csv", "operator", None),
        ("get", f"/v1/billing/balances/{BIG}", "operator", None),
        ("post", f"/v1/billing/balances/{BIG}/topups", "operator", {"amount_minor": 100, "idempotency_key": "k"}),
        ("get", f"/v1/billing/fees?provider_id={BIG}", "operator", None),
        ("get", "/v1/billing/fees?provider_id=%C2%B2", "operator", None),  # '²': isdigit() but not int()
        ("get", "/v1/billing/statements?provider_id=%D9%A1", "operator", None),  # Arabic-Indic one
        ("get", "/v1/billing/balances/%D9%A1", "operator", None),  # \\d in the route matches it
        ("post", "/v1/billing/fees", "operator", {"provider_id": 2**64, "kind": "oadc", "starts": "2026-11"}),
        ("post", "/v1/billing/contracts", "operator",
         {"provider_id": 2**70, "plan_code": "X", "account": "postpaid", "valid_from": "2026-11-01"}),
        ("post", "/v1/applications", "provider", {"name": "NULAPP", "description": "a\u0000b"}),
        ("post", "/v1/providers", "operator", {"name": "Nul\u0000Co"}),
        ("post", "/v1/providers", "operator", {"name": "Deep", "y": 1e999}),
    ],
)  # fmt: skip
async def test_no_500_on_bad_ids_digits_and_text(
    client: TestClient, keys: dict[str, str], method: str, path: str, role: str, body: Any
) -> None:
    resp = await client.request(method, path, json=body, headers=auth(keys[role]))
    assert_error(await resp.json(), 400, "INVALID_ARGUMENT")


async def test_deep_nesting_and_non_json_numbers_are_400(client: TestClient, keys: dict[str, str]) -> None:
    headers = {**auth(keys["operator"]), "Content-Type": "application/json"}
    for raw in ("[" * 1500 + "]" * 1500, '{"name": NaN}', '{"name": "x", "n": Infinity}'):
        resp = await client.post("/v1/providers", data=raw, headers=headers)
        assert_error(await resp.json(), 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize(
    "csv",
    [
        b'id,name,category,lat,lon\n"a",Caf\re,CAFE,50.8,4.3\n',  # a bare CR inside a quoted line
        b"id,name,category,lat,lon\ra,b,CAFE,50.8,4.3\r",  # old Mac line endings: one long header line
        b"id,name,category,lat,lon\na,Caf\x00e,CAFE,50.8,4.3\n",
        b'id,"na\rme",category,lat,lon\na,b,CAFE,50.8,4.3\n',
    ],
)
async def test_csv_upload_line_endings_and_nul(client: TestClient, keys: dict[str, str], csv: bytes) -> None:
    await client.post("/v1/applications", json={"name": "ACMEAPP"}, headers=auth(keys["provider"]))
    headers = {**auth(keys["provider"]), "Content-Type": "text/csv"}
    resp = await client.post("/v1/applications/ACMEAPP/pois", data=csv, headers=headers)
    body = await resp.json()
    assert resp.status in (200, 400), body
    if resp.status == 400:
        assert_error(body, 400, body["code"])  # INVALID_ARGUMENT (header) or INVALID_ROWS, in the house shape
    else:
        assert body["imported"] == 0 and body["errors"], body  # the row is refused, with its reason
