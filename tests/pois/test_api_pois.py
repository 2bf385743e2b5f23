"""REST: GET /v1/pois/nearest and the streamed upload, with the house error shape on every bad input."""

from __future__ import annotations

import io
import json
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.camara import setup_camara_routes
from api.pois import setup_poi_routes
from lbs.settings import Settings
from tests.pois.conftest import Tenant, make_tenant, metres

Client = TestClient[web.Request, web.Application]
CSV = "id,name,category,lat,lon,address,phone,opening_hours\n"


def build(settings: Settings) -> web.Application:
    app = create_app(settings.model_copy(update={"smpp_enabled": False}))
    setup_poi_routes(app)
    setup_camara_routes(app)
    return app


@pytest.fixture
async def client(settings: Settings, db: asyncpg.Connection[Any], aiohttp_client: Any) -> Client:
    return await aiohttp_client(build(settings))  # type: ignore[no-any-return]


async def upload(client: Client, tenant: Tenant, body: bytes, ctype: str, app: str = "CITYGUIDE",
                 query: str = "") -> tuple[int, dict[str, Any]]:  # fmt: skip
    headers = {**tenant.auth, "Content-Type": ctype}
    resp = await client.post(f"/v1/applications/{app}/pois{query}", data=io.BytesIO(body), headers=headers)
    return resp.status, await resp.json()


async def test_upload_csv_then_nearest(client: Client, tenant: Tenant) -> None:
    body = CSV + "a,Pharmacie A,PHARMACY,50.8500,4.3500,,,\nb,Pharmacie B,PHARMACY,50.8600,4.3600,,,\n"
    body += "c,Pharmacie C,PHARMACY,50.8400,4.3400,,,\nd,ATM D,ATM,50.8501,4.3501,,,\n"
    status, report = await upload(client, tenant, body.encode(), "text/csv")
    assert status == 200, report
    assert report == {"application": "CITYGUIDE", "received": 4, "inserted": 4, "updated": 0, "deleted": 0}
    resp = await client.get("/v1/pois/nearest", params={"lat": "50.851", "lon": "4.351", "category": "pharmacy",
                                                         "k": "2"}, headers=tenant.auth)  # fmt: skip
    data = await resp.json()
    assert resp.status == 200, data
    assert [p["id"] for p in data["pois"]] == ["a", "b"]
    assert data["pois"][0]["distance_m"] == pytest.approx(metres(50.851, 4.351, 50.85, 4.35), abs=0.2)


async def test_upload_geojson_streamed(client: Client, tenant: Tenant) -> None:
    features = [
        {
            "type": "Feature",
            "id": f"h{i}",
            "geometry": {"type": "Point", "coordinates": [4.35 + i / 1000, 50.85]},
            "properties": {"name": f"Hotel {i}", "category": "HOTEL"},
        }
        for i in range(300)
    ]
    body = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    status, report = await upload(client, tenant, body, "application/geo+json")
    assert status == 200 and report["inserted"] == 300
    resp = await client.get("/v1/pois/nearest?lat=50.85&lon=4.3531&category=HOTEL&k=1", headers=tenant.auth)
    assert [p["id"] for p in (await resp.json())["pois"]] == ["h3"]


@pytest.mark.parametrize(
    ("query", "code"),
    [("lat=91&lon=4&category=ATM", "OUT_OF_RANGE"), ("lat=50&lon=-181&category=ATM", "OUT_OF_RANGE"),
     ("lat=50&lon=4&category=ATM&k=0", "OUT_OF_RANGE"), ("lat=50&lon=4&category=ATM&k=51", "OUT_OF_RANGE"),
     ("lat=50&lon=4&category=SPACESHIP", "UNKNOWN_CATEGORY"), ("lat=x&lon=4&category=ATM", "INVALID_ARGUMENT"),
     ("lon=4&category=ATM", "INVALID_ARGUMENT"), ("lat=50&lon=4&category=ATM&bogus=1", "INVALID_ARGUMENT")],
)  # fmt: skip
async def test_nearest_bad_input(client: Client, tenant: Tenant, query: str, code: str) -> None:
    resp = await client.get(f"/v1/pois/nearest?{query}", headers=tenant.auth)
    body = await resp.json()
    assert (resp.status, body["status"], body["code"]) == (400, 400, code), body
    assert body["message"]


@pytest.mark.parametrize(
    ("body", "ctype", "status", "code", "where"),
    [
        (CSV + "a,A,ATM,50,4,,,\nb,B,ATM,95,4,,,\n", "text/csv", 400, "INVALID_ROWS", "line 3"),
        (CSV, "text/csv", 400, "EMPTY_UPLOAD", None),
        (b"", "text/csv", 400, "INVALID_ARGUMENT", None),
        (CSV + "a,Caf\xe9,CAFE,50,4,,,\n", "text/csv", 400, "INVALID_ROWS", "line 2"),
        ('{"type": "FeatureCollection", "features": [{"type": ', "application/geo+json", 400, "INVALID_ARGUMENT",
         None),
        ("<xml/>", "application/xml", 415, "UNSUPPORTED_MEDIA_TYPE", None),
    ],
)  # fmt: skip
async def test_upload_bad_input(client: Client, tenant: Tenant, body: str | bytes, ctype: str, status: int,
                                code: str, where: str | None) -> None:  # fmt: skip
    raw = body.encode("latin-1") if isinstance(body, str) else body
    got, data = await upload(client, tenant, raw, ctype)
    assert (got, data["status"], data["code"]) == (status, status, code), data
    if where:
        assert data["details"]["errors"][0]["where"] == where
        assert where in data["message"]


async def test_upload_too_many_rows(settings: Settings, db: asyncpg.Connection[Any], aiohttp_client: Any,
                                    tenant: Tenant) -> None:  # fmt: skip
    client = await aiohttp_client(build(settings.model_copy(update={"pois_max_upload_rows": 2})))
    status, data = await upload(client, tenant, (CSV + "a,A,ATM,50,4,,,\n" * 3).encode(), "text/csv")
    assert (status, data["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert await db.fetchval("SELECT count(*) FROM pois") == 0


async def test_cross_tenant_is_404_and_roles(client: Client, db: asyncpg.Connection[Any], tenant: Tenant) -> None:
    other = await make_tenant(db, "Other", "OTHERAPP")
    status, data = await upload(client, tenant, (CSV + "a,A,ATM,50,4,,,\n").encode(), "text/csv", app="OTHERAPP")
    assert (status, data["code"]) == (404, "NOT_FOUND")
    resp = await client.get("/v1/pois/nearest?lat=50&lon=4&category=ATM&application=CITYGUIDE", headers=other.auth)
    assert resp.status == 404
    resp = await client.get("/v1/pois/nearest?lat=50&lon=4&category=ATM")
    assert (await resp.json())["code"] == "UNAUTHENTICATED"


async def test_openapi_documents_exactly_the_routes(client: Client) -> None:
    doc = await (await client.get("/openapi.json")).json()
    served = {(r.resource.canonical, r.method.lower()) for r in client.app.router.routes()
              if r.resource is not None and r.method.lower() in {"get", "post", "put", "patch", "delete"}}  # fmt: skip
    methods = {"get", "post", "put", "patch", "delete"}
    documented = {(p, m) for p, item in doc["paths"].items() for m in item if m in methods}
    assert documented == served
    mine = {"/v1/pois/nearest", "/v1/applications/{name}/pois", "/location-retrieval/v0.5/retrieve",
            "/location-verification/v3/verify"}  # fmt: skip
    assert mine <= set(doc["paths"])


async def test_upload_larger_than_the_json_body_limit_streams(client: Client, tenant: Tenant) -> None:
    rows = "".join(f"p{i},Pharmacie numero {i:06d},PHARMACY,50.{i:06d},4.{i:06d},Rue {i},,\n" for i in range(30_000))
    body = (CSV + rows).encode()
    assert len(body) > 2 * 1_048_576  # twice max_body_bytes: only a streamed read gets through
    status, report = await upload(client, tenant, body, "text/csv")
    assert (status, report["inserted"]) == (200, 30_000), report
