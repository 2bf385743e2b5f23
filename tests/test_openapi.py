"""The OpenAPI document describes exactly the routes the app serves."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from api.app import create_app
from lbs.settings import Settings

METHODS = {"get", "post", "put", "patch", "delete"}


def served_routes(settings: Settings) -> set[tuple[str, str]]:
    app = create_app(settings)
    out = set()
    for route in app.router.routes():
        method = route.method.lower()
        if method in METHODS and route.resource is not None:
            out.add((route.resource.canonical, method))
    return out


async def test_document_matches_routes(settings: Settings, db: asyncpg.Connection[Any], aiohttp_client: Any) -> None:
    client: TestClient = await aiohttp_client(create_app(settings.model_copy(update={"smpp_enabled": False})))
    resp = await client.get("/openapi.json")
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    documented = {(path, m) for path, item in doc["paths"].items() for m in item if m in METHODS}
    assert documented == served_routes(settings)
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op.get("responses"), f"{method.upper()} {path} documents no responses"
